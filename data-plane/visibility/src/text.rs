//! Tokens of Text attributes.
//!
//! The real server's SQLite visibility indexes Text attributes in an FTS5
//! table with `tokenize="unicode61 remove_diacritics 2"`: tokens are runs of
//! letters and digits, case-folded, with diacritics removed; every other
//! character separates tokens. A query `Text = 'some words'` is split on
//! spaces and becomes the FTS query `col : ("some" OR "words")`, each
//! space-separated piece a phrase: the row matches if *any* piece occurs.
//!
//! We store each distinct token of a Text value as one row and translate a
//! piece to "all of its tokens occur" (a phrase of one token, the usual case,
//! is exact; for a piece such as `foo-bar` FTS5 would also require adjacency,
//! which distinct tokens cannot express). Diacritics are folded for Latin-1
//! letters only.

/// The distinct tokens of `value` in order of first appearance: lowercase,
/// split on every character that is not alphanumeric.
pub fn text_tokens(value: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        if !cur.is_empty() {
            let t = std::mem::take(cur);
            if !out.contains(&t) {
                out.push(t);
            }
        }
    };
    for c in value.chars() {
        if c.is_alphanumeric() {
            for l in c.to_lowercase() {
                cur.push(fold_diacritic(l));
            }
        } else {
            flush(&mut cur, &mut out);
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// Latin-1 lowercase letters with diacritics to their base letter.
fn fold_diacritic(c: char) -> char {
    match c {
        'à'..='å' => 'a',
        'ç' => 'c',
        'è'..='ë' => 'e',
        'ì'..='ï' => 'i',
        'ñ' => 'n',
        'ò'..='ö' | 'ø' => 'o',
        'ù'..='ü' => 'u',
        'ý' | 'ÿ' => 'y',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(text_tokens("Hello, World! hello"), vec!["hello", "world"]);
        assert_eq!(
            text_tokens("foo-bar_baz 42"),
            vec!["foo", "bar", "baz", "42"]
        );
        assert_eq!(text_tokens("Crème Brûlée"), vec!["creme", "brulee"]);
        assert_eq!(text_tokens("  --  "), Vec::<String>::new());
        assert_eq!(text_tokens("日本語 テキスト"), vec!["日本語", "テキスト"]);
    }
}
