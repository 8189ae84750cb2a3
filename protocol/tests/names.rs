//! Property tests for name equality, order and hashing (issue 11): `Name` and `GroupName`
//! must compare exactly as `unicase::UniCase` does (what they used before their own fast
//! paths), and names that compare equal must hash alike, for ASCII names, mixed case, and
//! the letters whose Unicode fold crosses into ASCII or changes length (the Kelvin sign,
//! `ß`, ligatures), with the same calls to the hasher. Also a micro-benchmark, ignored by
//! default, of the old and new costs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use natter_protocol::names::{GroupName, Name};
use proptest::prelude::*;
use proptest::sample::Index;
use unicase::UniCase;

/// Spellings that fold alike, one class per entry: the tricky letters (folds into ASCII,
/// to several chars, final sigma, title case, outside the BMP), then every ASCII letter in
/// both cases, the digits and the three symbols a name may hold.
fn classes() -> Vec<Vec<String>> {
    let tricky: &[&[&str]] = &[
        &["k", "K", "\u{212A}"],
        &["s", "S", "\u{17F}"],
        &[
            "ss",
            "SS",
            "sS",
            "\u{DF}",
            "\u{1E9E}",
            "\u{17F}\u{17F}",
            "s\u{17F}",
        ],
        &["ffi", "FFI", "\u{FB03}", "f\u{FB01}", "\u{FB00}i", "fFi"],
        &["st", "ST", "\u{FB05}", "\u{FB06}"],
        &["\u{E5}", "\u{C5}", "\u{212B}"],
        &["\u{3BC}", "\u{39C}", "\u{B5}"],
        &["\u{3C3}", "\u{3A3}", "\u{3C2}"],
        &["\u{3C9}", "\u{3A9}", "\u{2126}"],
        &["\u{1C6}", "\u{1C4}", "\u{1C5}"],
        &["\u{3B1}\u{3B9}", "\u{1FB3}", "\u{1FBC}", "\u{391}\u{399}"],
        &["\u{E9}", "\u{C9}"],
        &["\u{130}"],
        &["\u{131}"],
        &["\u{10428}", "\u{10400}"],
        &["\u{674E}"],
    ];
    let mut classes: Vec<Vec<String>> = tricky
        .iter()
        .map(|c| c.iter().map(|s| (*s).to_owned()).collect())
        .collect();
    for c in 'a'..='z' {
        classes.push(vec![c.to_string(), c.to_ascii_uppercase().to_string()]);
    }
    for c in ('0'..='9').chain(['-', '_', '.']) {
        classes.push(vec![c.to_string()]);
    }
    classes
}

/// A name as (class, spelling) picks: at most 8 picks of at most 3 chars, so any two
/// joined below stay within the 32 a name may hold.
fn picks(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<(Index, Index)>> {
    proptest::collection::vec((any::<Index>(), any::<Index>()), len)
}

fn spell(classes: &[Vec<String>], picks: &[(Index, Index)]) -> String {
    picks
        .iter()
        .map(|(class, spelling)| {
            let class = class.get(classes);
            spelling.get(class).as_str()
        })
        .collect()
}

/// The same picks of class, respelled with `spellings`.
fn respell(picks: &[(Index, Index)], spellings: &[Index]) -> Vec<(Index, Index)> {
    picks
        .iter()
        .zip(spellings.iter().cycle())
        .map(|((class, _), spelling)| (*class, *spelling))
        .collect()
}

/// Pairs of name texts: the same name spelled twice (equal), two unrelated names, and a
/// name against a respelled start of it followed by something else (ties, prefixes, and
/// differences after a long equal start), and random ASCII names in random case.
fn pairs() -> impl Strategy<Value = (String, String)> {
    let classes = classes();
    let (c1, c2, c3) = (classes.clone(), classes.clone(), classes);
    prop_oneof![
        (
            picks(1..=8),
            proptest::collection::vec(any::<Index>(), 1..4)
        )
            .prop_map(move |(a, s)| (spell(&c1, &a), spell(&c1, &respell(&a, &s)))),
        (picks(1..=8), picks(1..=8)).prop_map(move |(a, b)| (spell(&c2, &a), spell(&c2, &b))),
        (
            picks(1..=8),
            any::<Index>(),
            proptest::collection::vec(any::<Index>(), 1..4),
            picks(1..=2),
        )
            .prop_map(move |(a, cut, s, tail)| {
                let mut b = respell(&a[..cut.index(a.len() + 1)], &s);
                b.extend(tail);
                (spell(&c3, &a), spell(&c3, &b))
            }),
        ("[a-zA-Z0-9._-]{1,32}", any::<u32>()).prop_map(|(a, flips)| {
            let b = a
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if flips & (1 << (i % 32)) != 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            (a, b)
        }),
        ("[a-zA-Z0-9._-]{1,32}", "[a-zA-Z0-9._-]{1,32}"),
    ]
}

fn hash_of<T: Hash>(t: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    t.hash(&mut hasher);
    hasher.finish()
}

/// The calls a hasher receives, in order: equal names must make the same ones, since a
/// `Hasher` need not treat `write(&[a, b])` as `write_u8(a); write_u8(b)`.
#[derive(Default)]
struct Recorder(Vec<(&'static str, Vec<u8>)>);

impl Hasher for Recorder {
    fn write(&mut self, bytes: &[u8]) {
        self.0.push(("write", bytes.to_vec()));
    }
    fn write_u8(&mut self, byte: u8) {
        self.0.push(("write_u8", vec![byte]));
    }
    fn write_usize(&mut self, n: usize) {
        self.0.push(("write_usize", n.to_le_bytes().to_vec()));
    }
    fn finish(&self) -> u64 {
        0
    }
}

fn calls<T: Hash>(t: &T) -> Vec<(&'static str, Vec<u8>)> {
    let mut recorder = Recorder::default();
    t.hash(&mut recorder);
    recorder.0
}

#[test]
fn every_spelling_is_a_valid_name_and_unicase_equal_to_its_class() {
    for class in classes() {
        for spelling in &class {
            assert!(spelling.parse::<Name>().is_ok(), "{spelling:?}");
            assert_eq!(
                UniCase::new(spelling),
                UniCase::new(&class[0]),
                "{spelling:?}"
            );
        }
    }
}

/// Checks every property for one pair of name texts, with names of type `N`.
fn check<N>(a: &str, b: &str) -> Result<(), TestCaseError>
where
    N: std::str::FromStr + Ord + Hash,
    N::Err: std::fmt::Debug,
{
    let (x, y) = (a.parse::<N>().unwrap(), b.parse::<N>().unwrap());
    let (old_x, old_y) = (UniCase::new(a), UniCase::new(b));
    prop_assert_eq!(x == y, old_x == old_y, "eq of {:?} and {:?}", a, b);
    prop_assert_eq!(x.cmp(&y), old_x.cmp(&old_y), "cmp of {:?} and {:?}", a, b);
    prop_assert_eq!(y.cmp(&x), x.cmp(&y).reverse());
    prop_assert_eq!(x.cmp(&y) == Ordering::Equal, x == y);
    if x == y {
        prop_assert_eq!(hash_of(&x), hash_of(&y), "hashes of {:?} and {:?}", a, b);
        prop_assert_eq!(calls(&x), calls(&y), "hasher calls of {:?} and {:?}", a, b);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn names_compare_and_hash_as_unicase((a, b) in pairs()) {
        check::<Name>(&a, &b)?;
    }

    #[test]
    fn group_names_compare_and_hash_as_unicase((a, b) in pairs()) {
        check::<GroupName>(&a, &b)?;
    }
}

/// `cargo test --release -p natter-protocol --test names -- --ignored --nocapture`:
/// nanoseconds per hash (a fresh std SipHash per name, as a map look-up does), eq and cmp
/// of typical names, through `UniCase` as the old `Name` did against `Name`, in one binary.
/// Prints the best of interleaved trials; asserts nothing on time.
#[test]
#[ignore]
fn micro_benchmark() {
    const TRIALS: usize = 15;
    let lower = [
        "s7",
        "s512",
        "alice",
        "peer-0042",
        "x.y_z",
        "tracker.example",
    ];
    let mixed = ["Bob-2", "MixedCaseName", "Peer-0042", "KIM", "Xy"];
    let other = [
        "\u{E9}mile",
        "\u{141}ukasz",
        "\u{674E}\u{96F7}",
        "stra\u{DF}e",
    ];
    println!("ns per op; names {lower:?}, {mixed:?}, {other:?}");
    println!("{:<30} {:>8} {:>8}", "op", "UniCase", "Name");
    let sets = [
        ("lower ASCII", &lower[..]),
        ("mixed ASCII", &mixed[..]),
        ("non-ASCII", &other[..]),
    ];
    for (label, texts) in sets {
        let upper: Vec<String> = texts.iter().map(|t| t.to_uppercase()).collect();
        let names: Vec<Name> = texts.iter().map(|t| t.parse().unwrap()).collect();
        let names_upper: Vec<Name> = upper.iter().map(|t| t.parse().unwrap()).collect();
        let old: Vec<&str> = texts.to_vec();
        let old_upper: Vec<&str> = upper.iter().map(String::as_str).collect();
        let hash = |x: &dyn Hashed, _: &dyn Hashed| {
            let mut hasher = DefaultHasher::new();
            x.feed(&mut hasher);
            hasher.finish() as usize
        };
        // The old `Name` wrapped its text in a `UniCase` (an ASCII scan) on every call.
        let hash_old: Op<&str> = &|x, y| hash(&UniCase::new(*x), y);
        let hash_new: Op<Name> = &|x, y| hash(x, y);
        let eq_old: Op<&str> = &|x, y| usize::from(UniCase::new(*x) == UniCase::new(*y));
        let eq_new: Op<Name> = &|x, y| usize::from(x == y);
        let cmp_old: Op<&str> = &|x, y| UniCase::new(*x).cmp(&UniCase::new(*y)) as usize;
        let cmp_new: Op<Name> = &|x, y| x.cmp(y) as usize;
        // (operation, second operand in upper case?, shift to the second operand, ...)
        let rows: [(&str, bool, usize, Ops<'_, '_>); 7] = [
            ("hash", false, 0, (hash_old, hash_new)),
            ("eq, same spelling", false, 0, (eq_old, eq_new)),
            ("eq, other case", true, 0, (eq_old, eq_new)),
            ("eq, next name", false, 1, (eq_old, eq_new)),
            ("cmp, same spelling", false, 0, (cmp_old, cmp_new)),
            ("cmp, other case", true, 0, (cmp_old, cmp_new)),
            ("cmp, next name", true, 1, (cmp_old, cmp_new)),
        ];
        for (op, upper, shift, (before, after)) in rows {
            let (old_ys, new_ys) = if upper {
                (&old_upper, &names_upper)
            } else {
                (&old, &names)
            };
            // The machine is shared and noisy: the best of interleaved trials.
            let (mut best_before, mut best_after) = (f64::MAX, f64::MAX);
            for _ in 0..TRIALS {
                best_before = best_before.min(per_op(&old, old_ys, shift, before));
                best_after = best_after.min(per_op(&names, new_ys, shift, after));
            }
            let (before, after) = (best_before, best_after);
            println!(
                "{:<30} {before:>8.1} {after:>8.1}",
                format!("{op} ({label})")
            );
        }
    }
}

/// A binary operation under measurement, returning something to keep.
type Op<'a, T> = &'a dyn Fn(&T, &T) -> usize;

/// One operation on the old type and on `Name`.
type Ops<'a, 's> = (Op<'a, &'s str>, Op<'a, Name>);

/// Hash through a trait object, so both types share one measuring closure.
trait Hashed {
    fn feed(&self, hasher: &mut DefaultHasher);
}

impl<T: Hash> Hashed for T {
    fn feed(&self, hasher: &mut DefaultHasher) {
        self.hash(hasher);
    }
}

/// Nanoseconds per `op(xs[i], ys[(i + shift) % n])`, over many rounds of every `i`.
fn per_op<T>(xs: &[T], ys: &[T], shift: usize, op: Op<'_, T>) -> f64 {
    use std::hint::black_box;
    const ROUNDS: usize = 30_000;
    let n = xs.len();
    let start = std::time::Instant::now();
    for _ in 0..ROUNDS {
        for i in 0..n {
            black_box(op(black_box(&xs[i]), black_box(&ys[(i + shift) % n])));
        }
    }
    start.elapsed().as_nanos() as f64 / (ROUNDS * n) as f64
}
