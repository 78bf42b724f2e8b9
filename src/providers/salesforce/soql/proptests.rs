//! Property tests of SOQL literals: any text quoted reads back as itself and as one literal, and
//! in a LIKE pattern its own `%` and `_` match only themselves.

use proptest::prelude::*;

use super::{contains, quote};

/// Reads the string literal at the start of `soql` as Salesforce does: its value, whether each
/// character was escaped, and the rest of the text after it.
fn literal(soql: &str) -> Option<(Vec<(char, bool)>, &str)> {
    let mut chars = soql.char_indices();
    if chars.next()?.1 != '\'' {
        return None;
    }
    let mut value = Vec::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => return Some((value, &soql[i + 1..])),
            '\\' => {
                let escaped = match chars.next()?.1 {
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    c @ ('"' | '\'' | '\\' | '%' | '_') => c,
                    _ => return None,
                };
                value.push((escaped, true));
            }
            c => value.push((c, false)),
        }
    }
    None
}

proptest! {
    #[test]
    fn a_quoted_string_is_one_literal_of_itself(value in any::<String>()) {
        let soql = quote(&value);
        let (read, rest) = literal(&soql).expect("a literal");
        prop_assert_eq!(rest, "", "nothing after the literal");
        prop_assert_eq!(read.iter().map(|(c, _)| c).collect::<String>(), value);
    }

    #[test]
    fn a_contains_pattern_wildcards_only_its_ends(value in any::<String>()) {
        let soql = contains(&value);
        let (read, rest) = literal(&soql).expect("a literal");
        prop_assert_eq!(rest, "");
        let (first, last) = (read[0], read[read.len() - 1]);
        prop_assert_eq!(first, ('%', false));
        prop_assert_eq!(last, ('%', false));
        let inner = &read[1..read.len() - 1];
        prop_assert!(inner.iter().all(|(c, escaped)| !matches!(c, '%' | '_') || *escaped));
        prop_assert_eq!(inner.iter().map(|(c, _)| c).collect::<String>(), value);
    }

    #[test]
    fn ids_in_a_list_stay_one_literal_each(ids in proptest::collection::vec(any::<String>(), 1..5)) {
        let soql = super::by_ids(crate::providers::crm::CrmObject::Contact, &ids, &[]);
        let mut rest = soql.split_once(" IN (").expect("an IN list").1;
        let mut read = Vec::new();
        loop {
            let (value, after) = literal(rest).expect("a literal");
            read.push(value.iter().map(|(c, _)| c).collect::<String>());
            match after.strip_prefix(", ") {
                Some(next) => rest = next,
                None => {
                    prop_assert_eq!(after, ")");
                    break;
                }
            }
        }
        prop_assert_eq!(read, ids);
    }
}
