//! Name equality, order and hashing: exactly `unicase::UniCase`'s (issue 11). They run on
//! every map look-up by name (the tracker's registry and snapshots, the peers' member
//! lists). Equality and order first try a plain byte test that settles most answers
//! without `UniCase`'s ASCII scans or its char-by-char fold; hashing is `UniCase`'s own.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use unicase::UniCase;

/// `UniCase::new(a) == UniCase::new(b)`.
#[inline]
pub fn eq(a: &str, b: &str) -> bool {
    // Strings that differ only in the case of ASCII letters fold alike: the bytes that
    // differ are whole chars, and an ASCII letter folds to its lower case. So the
    // common hit (the same spelling, or ASCII in another case) needs no ASCII scan.
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    if a.is_ascii() && b.is_ascii() {
        return false;
    }
    unicode_eq(a, b)
}

/// `UniCase::new(a).cmp(&UniCase::new(b))`: the order of the folded chars.
#[inline]
pub fn cmp(a: &str, b: &str) -> Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    match x
        .iter()
        .zip(y)
        .position(|(p, q)| !p.eq_ignore_ascii_case(q))
    {
        // One is the other, or starts it, up to ASCII case: their folds are equal or
        // one starts the other (every char folds to at least one char).
        None => x.len().cmp(&y.len()),
        // The bytes before `i` are the same chars up to ASCII case (so they fold
        // alike) and both bytes at `i` are whole ASCII chars: they decide, lowered.
        Some(i) if x[i].is_ascii() && y[i].is_ascii() => {
            x[i].to_ascii_lowercase().cmp(&y[i].to_ascii_lowercase())
        }
        Some(_) => unicode_cmp(a, b),
    }
}

// The full fold, for names that are not ASCII: kept out of line (not inlined into
// every map look-up) as it pulls in unicase's whole fold table.

#[inline(never)]
fn unicode_eq(a: &str, b: &str) -> bool {
    UniCase::unicode(a) == UniCase::unicode(b)
}

#[inline(never)]
fn unicode_cmp(a: &str, b: &str) -> Ordering {
    UniCase::unicode(a).cmp(&UniCase::unicode(b))
}

/// `UniCase::new(s)`'s hash, as it is. Feeding SipHash the folded bytes in one `write`
/// instead of one `write_u8` each was measured (issue 11, `protocol/tests/names.rs`)
/// and saved nothing for ASCII names: std's SipHash-1-3 takes a byte in about a
/// nanosecond and its set-up and finish dominate. It cost non-ASCII names ~5 ns more,
/// as their fold must be collected first; and every name, ASCII or not, must make the
/// same calls (a `Hasher` need not be streaming), so the two cannot be mixed.
#[inline]
pub fn hash<H: Hasher>(s: &str, state: &mut H) {
    UniCase::new(s).hash(state)
}
