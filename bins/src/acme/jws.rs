//! The ACME account key and the JSON Web Signatures made with it (RFC 7515, RFC 8555 §6.2):
//! ES256 (ECDSA P-256 with SHA-256), `jwk` for new accounts and `kid` afterwards.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

use super::AcmeError;

/// Base64url without padding, as JOSE writes it.
pub fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An ECDSA P-256 account key.
pub struct AccountKey {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
    rng: SystemRandom,
}

impl AccountKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, AcmeError> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| AcmeError::Local("cannot generate an account key".into()))?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// The key stored as PKCS#8 DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, AcmeError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|_| AcmeError::Local("the stored account key is not a P-256 key".into()))?;
        Ok(AccountKey {
            pair,
            pkcs8: der.to_vec(),
            rng,
        })
    }

    /// The key as PKCS#8 DER, for storing.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as a JWK (RFC 7518 §6.2).
    pub fn jwk(&self) -> Value {
        let (x, y) = self.coordinates();
        json!({"crv": "P-256", "kty": "EC", "x": b64u(x), "y": b64u(y)})
    }

    /// The JWK thumbprint (RFC 7638), base64url: the account's part of key authorizations.
    pub fn thumbprint(&self) -> String {
        let (x, y) = self.coordinates();
        // Members in lexicographic order, no whitespace (RFC 7638 §3).
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            b64u(x),
            b64u(y)
        );
        b64u(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// The key authorization for a challenge token (RFC 8555 §8.1).
    pub fn key_authorization(&self, token: &str) -> String {
        format!("{token}.{}", self.thumbprint())
    }

    /// A flattened JWS over `payload` (`None`: POST-as-GET, an empty payload), signed for
    /// `url` with `nonce`, naming the key by `kid` or, without one, embedding the `jwk`.
    pub fn sign(
        &self,
        url: &str,
        nonce: &str,
        kid: Option<&str>,
        payload: Option<&Value>,
    ) -> Result<Vec<u8>, AcmeError> {
        let mut protected = json!({"alg": "ES256", "nonce": nonce, "url": url});
        match kid {
            Some(kid) => protected["kid"] = Value::from(kid),
            None => protected["jwk"] = self.jwk(),
        }
        let protected = b64u(protected.to_string().as_bytes());
        let payload = payload.map_or(String::new(), |p| b64u(p.to_string().as_bytes()));
        let signing_input = format!("{protected}.{payload}");
        let sig = self
            .pair
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| AcmeError::Local("signing failed".into()))?;
        let body =
            json!({"protected": protected, "payload": payload, "signature": b64u(sig.as_ref())});
        Ok(body.to_string().into_bytes())
    }

    fn coordinates(&self) -> (&[u8], &[u8]) {
        // Uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
        let point = self.pair.public_key().as_ref();
        (&point[1..33], &point[33..65])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

    #[test]
    fn signature_verifies_and_key_round_trips() {
        let key = AccountKey::generate().unwrap();
        let again = AccountKey::from_pkcs8(key.pkcs8()).unwrap();
        assert_eq!(key.thumbprint(), again.thumbprint());
        let body = key
            .sign("https://ca/new", "n0nce", None, Some(&json!({"a": 1})))
            .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        let protected = v["protected"].as_str().unwrap();
        let payload = v["payload"].as_str().unwrap();
        let sig = URL_SAFE_NO_PAD
            .decode(v["signature"].as_str().unwrap())
            .unwrap();
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.pair.public_key());
        public
            .verify(format!("{protected}.{payload}").as_bytes(), &sig)
            .unwrap();
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(protected).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["url"], "https://ca/new");
        assert_eq!(header["jwk"]["kty"], "EC");
        assert!(header.get("kid").is_none());
        let get = key.sign("https://ca/o", "n", Some("https://ca/acct/1"), None);
        let v: Value = serde_json::from_slice(&get.unwrap()).unwrap();
        assert_eq!(v["payload"], "");
    }

    #[test]
    fn thumbprint_is_rfc7638_shape() {
        let key = AccountKey::generate().unwrap();
        let t = key.thumbprint();
        assert_eq!(t.len(), 43, "base64url of 32 bytes");
        assert!(key.key_authorization("tok").starts_with("tok."));
    }
}
