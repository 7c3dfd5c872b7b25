//! Address lists in message headers (`To:`, `Cc:`, `Bcc:`), as sendmail's
//! `-t` reads them: mailboxes separated by commas, with quoted names,
//! comments and groups (`undisclosed-recipients:;`).

use super::address::{AddressError, Mailbox};

/// Splits an unfolded header value into mailboxes. Commas inside quotes,
/// angle brackets or comments do not separate; comments are dropped; a
/// group's name is dropped and its members kept.
///
/// ```
/// use reactor_bins::smtp::addrlist::parse_list;
/// let list = parse_list(r#""Doe, J." <j@x.org>, k@y.org (Kay), team: a@z.org, b@z.org;"#).unwrap();
/// let addrs: Vec<&str> = list.iter().map(|m| m.addr.as_str()).collect();
/// assert_eq!(addrs, ["j@x.org", "k@y.org", "a@z.org", "b@z.org"]);
/// assert!(parse_list("undisclosed-recipients:;").unwrap().is_empty());
/// ```
pub fn parse_list(value: &str) -> Result<Vec<Mailbox>, AddressError> {
    let mut items = Vec::new();
    let mut item = String::new();
    let (mut quoted, mut escaped, mut angle, mut comment) = (false, false, false, 0usize);
    for c in value.chars() {
        if escaped {
            escaped = false;
            if comment == 0 {
                item.push(c);
            }
            continue;
        }
        match c {
            '\\' if quoted || comment > 0 => {
                escaped = true;
                if comment == 0 {
                    item.push(c);
                }
            }
            '"' if comment == 0 => {
                quoted = !quoted;
                item.push(c);
            }
            _ if quoted => item.push(c),
            '(' => comment += 1,
            ')' if comment > 0 => comment -= 1,
            _ if comment > 0 => {}
            '<' => {
                angle = true;
                item.push(c);
            }
            '>' => {
                angle = false;
                item.push(c);
            }
            ',' | ';' if !angle => items.push(std::mem::take(&mut item)),
            // A group's display name ends with the colon.
            ':' if !angle => item.clear(),
            _ => item.push(c),
        }
    }
    items.push(item);
    items
        .iter()
        .map(|i| i.trim())
        .filter(|i| !i.is_empty())
        .map(Mailbox::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(value: &str) -> Vec<String> {
        parse_list(value)
            .unwrap()
            .into_iter()
            .map(|m| m.addr)
            .collect()
    }

    #[test]
    fn lists_groups_and_comments() {
        assert_eq!(addrs("a@x.org"), ["a@x.org"]);
        assert_eq!(addrs(" a@x.org ,, b@x.org "), ["a@x.org", "b@x.org"]);
        assert_eq!(addrs("\"a:b, c\" <q@x.org>"), ["q@x.org"]);
        assert_eq!(
            addrs("A (c, d) <a@x.org>, (only) b@x.org"),
            ["a@x.org", "b@x.org"]
        );
        assert_eq!(addrs("g: a@x.org; b@x.org"), ["a@x.org", "b@x.org"]);
        assert_eq!(addrs("=?UTF-8?Q?Zo=C3=AB?= <z@x.org>"), ["z@x.org"]);
        assert!(parse_list("a@x.org, nonsense").is_err());
        assert!(parse_list("").unwrap().is_empty());
    }
}
