//! The offline list: a text file of Have I Been Pwned's Pwned Passwords, one
//! `HASH:COUNT` line per password, sorted by hash, searched on disk by bisection. The
//! full list is tens of gigabytes; a lookup reads a few dozen small pieces of it, and
//! nothing is loaded into memory or indexed first.
//!
//! Two layouts, both what the official downloader writes:
//! - one file whose lines are the whole SHA-1 (40 hex digits) and its count;
//! - a folder of range files named by the first five hex digits (`21BD1.txt`), whose
//!   lines are the other 35 digits and the count: exactly the range API's answer.
//!
//! Hex is compared without regard to case and lines may end in CRLF. A line that is not
//! `HEX:COUNT` never matches, and never stops its neighbours from being found.

use std::{
    fs::File,
    io::{self, BufRead, BufReader, Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

/// Below this many bytes the rest of the search window is read line by line.
const SCAN_WINDOW: u64 = 4096;
/// No line of the list is longer (40 hex digits, a colon, a count): a longer one is read
/// in pieces of this size, each malformed, so a damaged file never fills memory.
const MAX_LINE: u64 = 128;

/// How many points of a list file are sampled at start to check that it is sorted by hash,
/// and how many consecutive lines are read at each.
const SAMPLES: u64 = 16;
const RUN: usize = 64;

/// A list file at least this big (some twenty thousand lines) must spread its hashes
/// evenly: SHA-1 hashes are uniform, so the full list, and any subset of it that size,
/// has the hash at a fraction of its length near the same fraction of the hash space. A
/// download cut short (at a line break) does not: its hashes end early.
const EVEN_SPREAD_BYTES: u64 = 1 << 20;

/// How far (as a fraction of the hash space) a sampled hash may be from where its offset
/// says it should be, in a list of at least [`EVEN_SPREAD_BYTES`].
const SPREAD_TOLERANCE: f64 = 1.0 / 16.0;

/// At either end of such a list, the gap to the end of the hash space may be at most this
/// many times the average gap between its hashes. In an evenly spread list a gap that wide
/// happens with odds of about e^-30; a list cut short at a line break leaves one as wide
/// as what is missing (cut at 99.9%, the full list's is a million average gaps wide).
const END_GAPS: f64 = 30.0;

/// No line is longer than this on average (40 hex digits, a colon, a count, CRLF): the
/// line count a list's size implies is at least its size over this, so the end check never
/// expects more hashes than there are.
const LONGEST_AVERAGE_LINE: u64 = 64;

/// Reads up to and including the next newline, at most [`MAX_LINE`] bytes of it.
fn read_line<R: BufRead>(reader: &mut R, line: &mut Vec<u8>) -> io::Result<u64> {
    Ok(reader.take(MAX_LINE).read_until(b'\n', line)? as u64)
}

/// Where the list lives.
#[derive(Debug, Clone)]
pub enum OfflineList {
    /// One sorted file of full hashes.
    File(PathBuf),
    /// A folder of range files (`XXXXX.txt`, suffixes inside).
    Ranges(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{0}: neither a sorted HASH:COUNT file nor a folder of range files like 21BD1.txt")]
    Unrecognised(String),
}

impl OfflineList {
    /// Opens `path` (a file or a folder) and checks that it looks like the list, so that a
    /// wrong setting stops the server at start rather than silently checking nothing: a
    /// folder must hold the first and the last range file (`00000.txt`, `FFFFF.txt`); a
    /// file's first and last lines and [`RUN`] lines at each of [`SAMPLES`] points between
    /// must be full hashes in order (a list sorted by count, or cut short mid-line, is
    /// refused), and a big one must be evenly spread ([`EVEN_SPREAD_BYTES`]: a download
    /// cut short at a line break is refused).
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let io = |source| OpenError::Io { path: path.display().to_string(), source };
        let unrecognised = || OpenError::Unrecognised(path.display().to_string());
        let metadata = std::fs::metadata(path).map_err(io)?;
        if metadata.is_dir() {
            let complete = ["00000", "FFFFF"].iter().all(|range| range_file(path, range).is_file());
            return if complete { Ok(Self::Ranges(path.to_owned())) } else { Err(unrecognised()) };
        }
        let mut file = File::open(path).map_err(io)?;
        let size = metadata.len();
        let mut hashes = Vec::new();
        let mut placed = Vec::new();
        for at in (0..SAMPLES).map(|i| size / SAMPLES * i) {
            let run = lines_at(&mut file, at, at == 0).map_err(io)?;
            let full = run.iter().all(|hash| hash.len() == 40);
            // Consecutive lines strictly in order: a list sorted by count (hashes in no
            // order) fails here at the first sample with near certainty.
            let ordered = run.windows(2).all(|pair| pair[0] < pair[1]);
            match run.first() {
                // A small file has no line after some of the sample points.
                None if at > 0 => {}
                // Runs overlap in a small file: their first lines are compared below.
                Some(first) if full && ordered => {
                    placed.push((at as f64 / size as f64, first.clone()));
                    hashes.push(first.clone());
                }
                _ => return Err(unrecognised()),
            }
        }
        match last_line(&mut file, size).map_err(io)? {
            Some((hash, _)) if hash.len() == 40 => {
                placed.push((1.0, hash.clone()));
                hashes.push(hash);
            }
            _ => return Err(unrecognised()),
        }
        if !hashes.is_sorted() {
            return Err(unrecognised());
        }
        if size >= EVEN_SPREAD_BYTES && !evenly_spread(&placed, size / LONGEST_AVERAGE_LINE) {
            return Err(unrecognised());
        }
        Ok(Self::File(path.to_owned()))
    }

    /// How often the password whose SHA-1 is `sha1_hex` (40 hex digits) appears in the
    /// list; 0 when it does not. Blocking file reads: call it off the async workers. A
    /// range file missing from the folder is an error (the caller lets the password
    /// through and logs it), never a silent "not breached".
    pub fn count(&self, sha1_hex: &str) -> io::Result<u64> {
        let hash = sha1_hex.to_ascii_uppercase();
        match self {
            Self::File(path) => search(&mut File::open(path)?, hash.as_bytes()),
            Self::Ranges(dir) => {
                let (prefix, suffix) = hash.split_at(5);
                search(&mut File::open(range_file(dir, prefix))?, suffix.as_bytes())
            }
        }
    }
}

fn range_file(dir: &Path, prefix: &str) -> PathBuf {
    dir.join(format!("{prefix}.txt"))
}

/// The file's last line (a final line break and blank lines after it are optional), parsed; `None` when it is not
/// `HEX:COUNT` (a list cut short mid-line).
fn last_line(file: &mut File, size: u64) -> io::Result<Option<(Vec<u8>, u64)>> {
    let start = size.saturating_sub(MAX_LINE);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.take(MAX_LINE).read_to_end(&mut tail)?;
    let trimmed = tail.trim_ascii_end();
    let last = trimmed.rsplit(|&b| b == b'\n').next().unwrap_or_default();
    Ok(parse_line(last))
}

/// The hashes of up to [`RUN`] well-formed lines that start at or after `at` (at `at`
/// itself only when `at_line_start`); malformed lines among them are skipped.
fn lines_at(file: &mut File, at: u64, at_line_start: bool) -> io::Result<Vec<Vec<u8>>> {
    file.seek(SeekFrom::Start(at))?;
    let mut reader = BufReader::new(&mut *file);
    let mut line = Vec::new();
    if !at_line_start {
        read_line(&mut reader, &mut line)?;
    }
    let mut hashes = Vec::new();
    for _ in 0..RUN * 2 {
        line.clear();
        if read_line(&mut reader, &mut line)? == 0 {
            break;
        }
        if let Some((hash, _)) = parse_line(&line) {
            hashes.push(hash);
            if hashes.len() == RUN {
                break;
            }
        }
    }
    Ok(hashes)
}

/// Whether each hash sits near the fraction of the hash space its place in the file (a
/// fraction of the file's length) says it should, and the first and the last (`placed`'s
/// ends) leave no wider gap to the ends of the hash space than a list of at least `lines`
/// hashes would: see [`EVEN_SPREAD_BYTES`] and [`END_GAPS`].
fn evenly_spread(placed: &[(f64, Vec<u8>)], lines: u64) -> bool {
    let fraction = |hash: &[u8]| {
        let leading = std::str::from_utf8(&hash[..8]).ok().and_then(|hex| u32::from_str_radix(hex, 16).ok());
        leading.map(|leading| f64::from(leading) / 4_294_967_296.0)
    };
    let near =
        placed.iter().all(|(at, hash)| fraction(hash).is_some_and(|f| (f - at).abs() <= SPREAD_TOLERANCE));
    let widest = END_GAPS / lines.max(1) as f64;
    let starts = placed.first().and_then(|(_, hash)| fraction(hash)).is_some_and(|f| f <= widest);
    let ends = placed.last().and_then(|(_, hash)| fraction(hash)).is_some_and(|f| 1.0 - f <= widest);
    near && starts && ends
}

/// `HEX:COUNT` (optionally CR-terminated) as upper-case hex and the count; `None` for
/// anything else.
pub(crate) fn parse_line(line: &[u8]) -> Option<(Vec<u8>, u64)> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let colon = line.iter().position(|&b| b == b':')?;
    let (hex, count) = (&line[..colon], &line[colon + 1..]);
    if hex.is_empty() || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let count = std::str::from_utf8(count).ok()?.trim().parse().ok()?;
    Some((hex.to_ascii_uppercase(), count))
}

/// Bisects the sorted file for the line whose hex is `key` (upper case).
///
/// `lo` is always the start of a line and no line before it can match; a matching line
/// starts at or before `hi`. Each step reads the first well-formed line after the
/// midpoint (malformed lines in between cannot match, so they change nothing).
fn search<F: Read + Seek>(file: &mut F, key: &[u8]) -> io::Result<u64> {
    let (mut lo, mut hi) = (0u64, file.seek(SeekFrom::End(0))?);
    while hi - lo > SCAN_WINDOW {
        let mid = lo + (hi - lo) / 2;
        let mut reader = BufReader::new(&mut *file);
        reader.seek(SeekFrom::Start(mid))?;
        // Skip the rest of the line the midpoint fell in.
        let mut at = mid + read_line(&mut reader, &mut Vec::new())?;
        let mut line = Vec::new();
        let next = loop {
            line.clear();
            let read = read_line(&mut reader, &mut line)?;
            if read == 0 || at > hi {
                break None;
            }
            at += read;
            if let Some(parsed) = parse_line(&line) {
                break Some((parsed, at));
            }
        };
        match next {
            Some(((hex, count), _)) if hex == key => return Ok(count),
            Some(((hex, _), end)) if hex.as_slice() < key => lo = end.min(hi),
            _ => hi = mid,
        }
    }
    Ok(scan(file, lo, hi, key)?.unwrap_or(0))
}

/// Reads the lines that start in `from..=to` (`from` a line start) for `key`.
fn scan<F: Read + Seek>(file: &mut F, from: u64, to: u64, key: &[u8]) -> io::Result<Option<u64>> {
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(from))?;
    let mut at = from;
    let mut line = Vec::new();
    while at <= to {
        line.clear();
        let read = read_line(&mut reader, &mut line)?;
        if read == 0 {
            break;
        }
        if let Some((hex, count)) = parse_line(&line) {
            if hex == key {
                return Ok(Some(count));
            }
        }
        at += read;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// `n` sorted full-hash lines: hash `i` is `i` in 40 hex digits, its count `i + 1`.
    fn lines(n: u64) -> Vec<String> {
        (0..n).map(|i| format!("{:040X}:{}", i * 7, i + 1)).collect()
    }

    fn key(i: u64) -> Vec<u8> {
        format!("{:040X}", i * 7).into_bytes()
    }

    fn file(lines: &[String], ending: &str) -> Cursor<Vec<u8>> {
        Cursor::new(lines.iter().map(|l| format!("{l}{ending}")).collect::<String>().into_bytes())
    }

    #[test]
    fn every_line_is_found_first_and_last_included_and_misses_count_zero() {
        for n in [1, 2, 3, 200, 5000] {
            for ending in ["\n", "\r\n"] {
                let mut f = file(&lines(n), ending);
                for i in [0, 1, n / 2, n - 1] {
                    let i = i.min(n - 1);
                    assert_eq!(search(&mut f, &key(i)).expect("io"), i + 1, "n={n} i={i}");
                }
                // Between two hashes, before the first, after the last.
                let between = format!("{:040X}", 3).into_bytes();
                assert_eq!(search(&mut f, &between).expect("io"), 0);
                assert_eq!(search(&mut f, format!("{:040X}", u64::MAX).as_bytes()).expect("io"), 0);
            }
        }
    }

    #[test]
    fn a_file_without_a_final_newline_still_finds_its_last_line() {
        let all = lines(3000);
        let mut text = all.join("\n");
        text.truncate(text.trim_end().len());
        let mut f = Cursor::new(text.into_bytes());
        assert_eq!(search(&mut f, &key(2999)).expect("io"), 3000);
        assert_eq!(search(&mut f, &key(0)).expect("io"), 1);
    }

    #[test]
    fn lower_case_hex_is_found_by_an_upper_case_key() {
        let lower: Vec<String> = lines(3000).iter().map(|l| l.to_ascii_lowercase()).collect();
        let mut f = file(&lower, "\n");
        assert_eq!(search(&mut f, &key(1234)).expect("io"), 1235);
    }

    #[test]
    fn malformed_lines_never_match_and_never_hide_their_neighbours() {
        let mut all = lines(4000);
        for at in [0, 1000, 1001, 2500, all.len()] {
            all.insert(at, "this is not a hash line".into());
        }
        all.insert(3000, format!("{:040X}:not-a-number", 99_999));
        all.insert(10, ":5".into());
        all.insert(20, "ZZZZ:5".into());
        let mut f = file(&all, "\n");
        for i in [0, 1, 999, 1000, 1001, 2000, 2499, 2500, 3998, 3999] {
            assert_eq!(search(&mut f, &key(i)).expect("io"), i + 1, "i={i}");
        }
        assert_eq!(search(&mut f, format!("{:040X}", 99_999).as_bytes()).expect("io"), 0);
        assert_eq!(search(&mut f, b"ZZZZ").expect("io"), 0);
    }

    #[test]
    fn a_file_of_one_endless_line_is_read_in_small_pieces_and_finds_nothing() {
        let mut f = Cursor::new(vec![b'0'; 1 << 20]);
        assert_eq!(search(&mut f, &key(1)).expect("io"), 0);
        let mut all = lines(3000);
        all.insert(1500, "0".repeat(100_000));
        let mut f = file(&all, "\n");
        for i in [0, 1499, 1500, 2999] {
            assert_eq!(search(&mut f, &key(i)).expect("io"), i + 1, "i={i}");
        }
    }

    #[test]
    fn an_empty_file_finds_nothing() {
        assert_eq!(search(&mut Cursor::new(Vec::new()), &key(1)).expect("io"), 0);
    }

    #[test]
    fn lines_parse_only_as_hex_colon_count() {
        assert_eq!(parse_line(b"abc:12\r\n"), Some((b"ABC".to_vec(), 12)));
        assert_eq!(parse_line(b"ABC:0"), Some((b"ABC".to_vec(), 0)));
        for bad in [&b"abc"[..], b"abc:", b":1", b"xyz:1", b"abc:-1", b"abc:1:2", b""] {
            assert_eq!(parse_line(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn both_layouts_open_and_answer_and_anything_else_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let single = dir.path().join("pwned.txt");
        std::fs::write(&single, "0000000000000000000000000000000000000007:3\n").expect("write");
        let list = OfflineList::open(&single).expect("a full-hash file");
        assert_eq!(list.count(&format!("{:040x}", 7)).expect("io"), 3);

        let ranges = dir.path().join("ranges");
        std::fs::create_dir(&ranges).expect("mkdir");
        std::fs::write(ranges.join("21BD1.txt"), "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n").expect("write");
        assert!(
            matches!(OfflineList::open(&ranges), Err(OpenError::Unrecognised(_))),
            "first and last missing"
        );
        for range in ["00000", "FFFFF"] {
            std::fs::write(ranges.join(format!("{range}.txt")), "0018A45C4D1DEF81644B54AB7F969B88D65:2\r\n")
                .expect("write");
        }
        let list = OfflineList::open(&ranges).expect("a range folder");
        assert_eq!(list.count("21bd10018a45c4d1def81644b54ab7f969b88d65").expect("io"), 1);
        assert_eq!(
            list.count("21bd10018a45c4d1def81644b54ab7f969b88d66").expect("io"),
            0,
            "not in its range"
        );
        assert!(
            list.count("ABCDE0018A45C4D1DEF81644B54AB7F969B88D65").is_err(),
            "a missing range is no answer"
        );

        // Sorted by count (as one of the official downloads is), or cut short: refused.
        let by_count = dir.path().join("by-count.txt");
        let lines: Vec<String> =
            (0..200u32).rev().map(|n| format!("{:040X}:{}\n", n * 7919 % 200, n)).collect();
        std::fs::write(&by_count, lines.concat()).expect("write");
        assert!(matches!(OfflineList::open(&by_count), Err(OpenError::Unrecognised(_))));
        // Sorted, but for pairs of neighbours swapped all through: the samples' first
        // lines are in order, their runs are not.
        let swapped = dir.path().join("swapped.txt");
        let lines: Vec<String> =
            (0..2000u32).map(|n| format!("{:040X}:1\n", if n % 2 == 0 { n + 1 } else { n - 1 })).collect();
        std::fs::write(&swapped, lines.concat()).expect("write");
        assert!(matches!(OfflineList::open(&swapped), Err(OpenError::Unrecognised(_))));

        let blank_end = dir.path().join("blank-end.txt");
        std::fs::write(&blank_end, "0000000000000000000000000000000000000007:3\r\n\r\n").expect("write");
        assert!(OfflineList::open(&blank_end).is_ok(), "a blank line at the end is not damage");
        let cut = dir.path().join("cut.txt");
        std::fs::write(
            &cut,
            "0000000000000000000000000000000000000007:3\n00000000000000000000000000000000000000",
        )
        .expect("write");
        assert!(matches!(OfflineList::open(&cut), Err(OpenError::Unrecognised(_))));

        // A list big enough to be judged by its spread: whole, a subset of it (every other
        // line), and the whole cut short at a line break.
        let hashes: Vec<String> = {
            use sha1::{Digest, Sha1};
            let mut all: Vec<String> = (0..50_000u32)
                .map(|n| crate::token::hex(&Sha1::digest(n.to_le_bytes())).to_uppercase())
                .collect();
            all.sort();
            all
        };
        let write = |name: &str, lines: &[String]| {
            let path = dir.path().join(name);
            let text: String = lines.iter().map(|hash| format!("{hash}:1\r\n")).collect();
            std::fs::write(&path, text).expect("write");
            assert!(std::fs::metadata(&path).expect("size").len() >= EVEN_SPREAD_BYTES);
            path
        };
        assert!(OfflineList::open(&write("whole.txt", &hashes)).is_ok());
        let subset: Vec<String> = hashes.iter().step_by(2).cloned().collect();
        assert!(OfflineList::open(&write("subset.txt", &subset)).is_ok());
        for kept in [90, 99] {
            let cut = write(&format!("cut-{kept}.txt"), &hashes[..hashes.len() * kept / 100]);
            assert!(
                matches!(OfflineList::open(&cut), Err(OpenError::Unrecognised(_))),
                "a download cut short at a line break, {kept}% kept"
            );
        }
        let headless = write("headless.txt", &hashes[hashes.len() / 100..]);
        assert!(matches!(OfflineList::open(&headless), Err(OpenError::Unrecognised(_))), "its start missing");

        let junk = dir.path().join("junk.txt");
        std::fs::write(&junk, "hello\n").expect("write");
        assert!(matches!(OfflineList::open(&junk), Err(OpenError::Unrecognised(_))));
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).expect("mkdir");
        assert!(matches!(OfflineList::open(&empty), Err(OpenError::Unrecognised(_))));
        assert!(matches!(OfflineList::open(&dir.path().join("missing")), Err(OpenError::Io { .. })));
    }
}
