//! RFC 7541 Appendix C, every example, through the decoder and the encoder; and the
//! decoder's limits.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

type Step = (&'static str, &'static [(&'static str, &'static str)], usize);

/// Decodes each block in turn, checking the fields and the table size after it; then
/// encodes the same fields with a fresh encoder and checks the bytes are the RFC's.
fn series(table: usize, huffman: bool, steps: &[Step]) {
    let mut dec = Decoder::new(table);
    let mut enc = Encoder::new(table);
    enc.set_huffman(huffman);
    for (i, (block, want, size)) in steps.iter().enumerate() {
        let block = hex(block);
        let got = dec.decode(&block, 64 * 1024).unwrap();
        let want: Vec<Field> = want
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        assert_eq!(got, want, "step {i}");
        assert_eq!(
            dec.table().size(),
            *size,
            "decoder table size after step {i}"
        );
        let mut out = Vec::new();
        enc.encode(
            &mut out,
            want.iter()
                .map(|(n, v)| (n.as_slice(), v.as_slice(), Indexing::Incremental)),
        );
        assert_eq!(out, block, "encoding of step {i}");
        assert_eq!(
            enc.table().size(),
            *size,
            "encoder table size after step {i}"
        );
    }
}

fn single(block: &str, name: &str, value: &str, indexing: Indexing, table_len: usize) {
    let mut dec = Decoder::new(4096);
    let block = hex(block);
    let fields = dec.decode(&block, 4096).unwrap();
    assert_eq!(
        fields,
        vec![(name.as_bytes().to_vec(), value.as_bytes().to_vec())]
    );
    assert_eq!(dec.table().len(), table_len);
    let mut enc = Encoder::new(4096);
    enc.set_huffman(false);
    let mut out = Vec::new();
    enc.encode(&mut out, [(name.as_bytes(), value.as_bytes(), indexing)]);
    assert_eq!(out, block);
}

#[test]
fn c2_field_representations() {
    // C.2.1 literal with indexing, C.2.2 without, C.2.3 never indexed, C.2.4 indexed.
    let c21 = "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572";
    single(c21, "custom-key", "custom-header", Indexing::Incremental, 1);
    let c22 = "040c 2f73 616d 706c 652f 7061 7468";
    single(c22, ":path", "/sample/path", Indexing::Without, 0);
    let c23 = "1008 7061 7373 776f 7264 0673 6563 7265 74";
    single(c23, "password", "secret", Indexing::Never, 0);
    single("82", ":method", "GET", Indexing::Incremental, 0);
    let mut dec = Decoder::new(4096);
    dec.decode(&hex(c21), 4096).unwrap();
    assert_eq!(dec.table().size(), 55);
}

const REQ1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];

#[test]
fn c3_requests_without_huffman() {
    series(
        4096,
        false,
        &[
            (
                "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                REQ1,
                57,
            ),
            ("8286 84be 5808 6e6f 2d63 6163 6865", REQ2, 110),
            (
                "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                REQ3,
                164,
            ),
        ],
    );
}

#[test]
fn c4_requests_with_huffman() {
    series(
        4096,
        true,
        &[
            ("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", REQ1, 57),
            ("8286 84be 5886 a8eb 1064 9cbf", REQ2, 110),
            (
                "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                REQ3,
                164,
            ),
        ],
    );
}

const RESP1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
];

#[test]
fn c5_responses_without_huffman_and_evictions() {
    series(
        256,
        false,
        &[
            (
                "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                 6c65 2e63 6f6d",
                RESP1,
                222,
            ),
            ("4803 3330 37c1 c0bf", RESP2, 222),
            (
                "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                 3d31",
                RESP3,
                215,
            ),
        ],
    );
}

#[test]
fn c6_responses_with_huffman_and_evictions() {
    series(
        256,
        true,
        &[
            (
                "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                RESP1,
                222,
            ),
            ("4883 640e ffc1 c0bf", RESP2, 222),
            (
                "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                RESP3,
                215,
            ),
        ],
    );
}

#[test]
fn size_updates_only_at_block_start_and_within_the_limit() {
    let mut dec = Decoder::new(4096);
    // Two updates then a field: fine.
    assert!(dec.decode(&hex("3f e1 1f 20 82"), 4096).is_ok());
    assert_eq!(dec.table().max_size(), 0);
    // An update after a field.
    assert_eq!(
        dec.decode(&hex("82 20"), 4096),
        Err(DecodeError::BadSizeUpdate)
    );
    // Above the SETTINGS limit (4097).
    assert_eq!(
        dec.decode(&hex("3f e2 1f"), 4096),
        Err(DecodeError::BadSizeUpdate)
    );
}

#[test]
fn encoder_signals_a_smaller_table() {
    let mut enc = Encoder::new(4096);
    enc.set_max_size(0);
    enc.set_max_size(1024);
    let mut out = Vec::new();
    enc.encode(
        &mut out,
        [(&b":status"[..], &b"200"[..], Indexing::Incremental)],
    );
    // Smallest (0) then final (1024), then the field.
    assert_eq!(out, hex("20 3f e1 07 88"));
    let mut dec = Decoder::new(4096);
    assert_eq!(dec.decode(&out, 4096).unwrap().len(), 1);
    assert_eq!(dec.table().max_size(), 1024);
}

#[test]
fn bad_blocks_are_compression_errors() {
    let mut dec = Decoder::new(4096);
    for (block, err) in [
        ("80", DecodeError::BadIndex),
        ("be", DecodeError::BadIndex),
        ("7f 00", DecodeError::BadIndex),
        ("41", DecodeError::Truncated),
        ("41 05 61", DecodeError::Truncated),
        (
            "40 81 00 00",
            DecodeError::Huffman(HuffmanError::BadPadding),
        ),
        ("ff ff ff ff ff 0f", DecodeError::IntegerOverflow),
    ] {
        let got = dec.decode(&hex(block), 4096);
        assert_eq!(got, Err(err), "{block}");
        assert!(err.is_compression_error());
    }
}

#[test]
fn hpack_bomb_is_bounded_and_keeps_the_table() {
    // One 4000-byte entry, then referenced 1000 times: 4 MB decoded from 1 KB of input.
    let mut enc = Encoder::new(4096);
    let big = vec![b'a'; 4000];
    let mut block = Vec::new();
    enc.encode(
        &mut block,
        [(&b"x-bomb"[..], &big[..], Indexing::Incremental)],
    );
    block.extend(std::iter::repeat_n(0xbe, 1000));
    let mut dec = Decoder::new(4096);
    assert_eq!(
        dec.decode(&block, 16 * 1024),
        Err(DecodeError::ListTooLarge)
    );
    assert!(!DecodeError::ListTooLarge.is_compression_error());
    // The table still has the entry: the next block decodes against it.
    assert_eq!(dec.decode(&hex("be"), 16 * 1024).unwrap()[0].1.len(), 4000);
}
