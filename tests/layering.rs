//! Tidy tests of the floor plan and of the docs that describe it, in the spirit of
//! rust-analyzer's tidy tests: they read the repository's files, not the compiled crate.
//!
//! - **Layers.** The table under "## Layers" in `arch/README.md` is the single source of truth:
//!   one row per top-level module of `src/`, from the top of the stack to the bottom, each with
//!   the modules it may use. Every `crate::` and `$crate::` path in `src/` (in `use` groups, in
//!   expressions, in macro bodies) and every `super::` path that climbs to the crate root is
//!   checked against it; a failure names the file, the line and the path. The table itself
//!   must list a module's allowed uses only below its own row, so the module graph of `src/`
//!   has no cycle. Comments, doc comments (intra-doc links are not dependencies) and string
//!   literals are not uses. `src/lib.rs` is the crate root: it declares the modules, and must
//!   declare exactly the table's modules. A glob from the crate root (`use crate::*`) is
//!   refused: it would hide the module each later path names.
//! - **Invariant IDs.** Every ID cited in `src/` (P1, CO4, M5, ...) is defined in `arch/` by a
//!   paragraph starting `- **ID**`; every defined ID is cited in `src/`; the index table of
//!   `arch/README.md` lists every defined ID (alone or in a range such as `J1–J4`) and nothing
//!   else.
//! - **File paths.** Every `*.rs` path named in `arch/`, `README.md` (outside fenced blocks,
//!   which show commands and output) or a comment in `src/` names a file that exists (a path
//!   may be given relative to any directory of the tree).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every file under `dir` whose name ends with `ext`, sorted.
fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(ext) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

// ---------------------------------------------------------------------------------------------
// The layer table.

#[derive(Debug)]
struct Row {
    layer: String,
    module: String,
    may_use: BTreeSet<String>,
}

/// The backticked words of a table cell.
fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(|s| s.trim().to_owned())
        .collect()
}

/// The rows of the first table under `## Layers` in `arch/README.md`, top to bottom.
fn layer_table(readme: &str) -> Vec<Row> {
    let mut lines = readme.lines().skip_while(|l| l.trim() != "## Layers");
    assert!(
        lines.next().is_some(),
        "arch/README.md has no '## Layers' section"
    );
    let table: Vec<&str> = lines
        .take_while(|l| !l.starts_with("## "))
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(
        table.len() > 2,
        "the Layers section of arch/README.md has no table"
    );
    let header: Vec<String> = cells(table[0]).map(str::to_lowercase).collect();
    assert_eq!(
        header,
        ["layer", "module", "what it holds", "may use"],
        "the Layers table's columns"
    );
    table[2..]
        .iter()
        .map(|line| {
            let c: Vec<&str> = cells(line).collect();
            assert_eq!(c.len(), 4, "a Layers row needs four cells: {line}");
            let module = backticked(c[1]);
            assert_eq!(module.len(), 1, "one backticked module per row: {line}");
            Row {
                layer: c[0].to_owned(),
                module: module[0].clone(),
                may_use: backticked(c[3]).into_iter().collect(),
            }
        })
        .collect()
}

fn cells(line: &str) -> impl Iterator<Item = &str> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(str::trim)
}

// ---------------------------------------------------------------------------------------------
// Reading Rust source: comments and literals blanked, then tokens.

/// `src` with comments, string and character literals replaced by spaces (newlines kept, so
/// offsets and line numbers stay those of the file).
fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<char>, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                blank(&mut out, b[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.extend([' ', ' ']);
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.extend([' ', ' ']);
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if c == 'r'
            && !prev_ident_except_b(&b, i)
            && matches!(next, Some('"') | Some('#'))
            && raw_string_len(&b[i + 1..]).is_some()
        {
            let len = 1 + raw_string_len(&b[i + 1..]).expect("checked");
            for &ch in &b[i..i + len] {
                blank(&mut out, ch);
            }
            i += len;
        } else if c == '"' {
            blank(&mut out, c);
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            if i < b.len() {
                blank(&mut out, b[i]);
                i += 1;
            }
        } else if c == '\'' && !prev_ident_except_b(&b, i) {
            // A character literal ('x', '\n', '\u{1F600}'), or else a lifetime or label.
            let len = if next == Some('\\') {
                // The escaped character itself may be a quote (`'\''`).
                b[i + 3..].iter().position(|&ch| ch == '\'').map(|p| p + 4)
            } else if b.get(i + 2) == Some(&'\'') {
                Some(3)
            } else {
                None
            };
            match len {
                Some(len) => {
                    for &ch in &b[i..i + len] {
                        blank(&mut out, ch);
                    }
                    i += len;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// Whether the identifier character before `b[i]` makes it part of a longer identifier (a
/// literal's `b` or `c` prefix, as in `br"..."`, `cr"..."` or `b'x'`, does not).
fn prev_ident_except_b(b: &[char], i: usize) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    match i.checked_sub(1).map(|j| b[j]) {
        Some('b' | 'c') => i >= 2 && ident(b[i - 2]),
        Some(c) => ident(c),
        None => false,
    }
}

/// The length of a raw string literal's body starting at `b` (after the `r`): `#`s, a quote,
/// the text, a quote and as many `#`s.
fn raw_string_len(b: &[char]) -> Option<usize> {
    let hashes = b.iter().take_while(|&&c| c == '#').count();
    if b.get(hashes) != Some(&'"') {
        return None;
    }
    let body = &b[hashes + 1..];
    (0..body.len())
        .find(|&k| {
            body[k] == '"'
                && body[k + 1..]
                    .iter()
                    .take(hashes)
                    .filter(|&&c| c == '#')
                    .count()
                    == hashes
        })
        .map(|k| hashes + 1 + k + 1 + hashes)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Punct(char),
}

/// Identifiers and punctuation of stripped source, each with its byte offset.
fn tokens(stripped: &str) -> Vec<(usize, Tok)> {
    let mut out = Vec::new();
    let mut chars = stripped.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c.is_alphabetic() || c == '_' {
            let mut word = String::from(c);
            while let Some(&(_, n)) = chars.peek() {
                if n.is_alphanumeric() || n == '_' {
                    word.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push((at, Tok::Ident(word)));
        } else if c.is_numeric() {
            while chars
                .peek()
                .is_some_and(|&(_, n)| n.is_alphanumeric() || n == '_')
            {
                chars.next();
            }
        } else if !c.is_whitespace() {
            out.push((at, Tok::Punct(c)));
        }
    }
    out
}

/// A path that leaves its top-level module's files: its line and the crate-root item it names.
#[derive(Debug, Clone, PartialEq)]
struct RootUse {
    line: usize,
    /// The first segment after the crate root (a top-level module, or an exported macro).
    item: String,
    /// The path as written, for the failure message.
    text: String,
}

fn is(toks: &[(usize, Tok)], i: usize, t: &Tok) -> bool {
    toks.get(i).is_some_and(|(_, x)| x == t)
}

fn is_path_sep(toks: &[(usize, Tok)], i: usize) -> bool {
    is(toks, i, &Tok::Punct(':')) && is(toks, i + 1, &Tok::Punct(':'))
}

fn ident_at(toks: &[(usize, Tok)], i: usize) -> Option<&str> {
    match toks.get(i) {
        Some((_, Tok::Ident(s))) => Some(s),
        _ => None,
    }
}

/// The first segments named after a path prefix whose `::` ends before token `i`: one
/// identifier, or each item of a `{a, b::c, d}` group.
fn first_segments(toks: &[(usize, Tok)], i: usize) -> Vec<String> {
    if let Some(word) = ident_at(toks, i) {
        return vec![word.to_owned()];
    }
    if is(toks, i, &Tok::Punct('*')) {
        return vec!["*".to_owned()];
    }
    if !is(toks, i, &Tok::Punct('{')) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut depth = 0;
    let mut expect_item = true;
    for (_, t) in &toks[i..] {
        match t {
            Tok::Punct('{') => {
                depth += 1;
                if depth == 1 {
                    expect_item = true;
                }
            }
            Tok::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Tok::Punct(',') if depth == 1 => expect_item = true,
            Tok::Ident(word) if depth == 1 && expect_item => {
                out.push(word.clone());
                expect_item = false;
            }
            Tok::Punct('*') if depth == 1 && expect_item => {
                out.push("*".to_owned());
                expect_item = false;
            }
            _ if depth == 1 => expect_item = false,
            _ => {}
        }
    }
    out
}

/// Every path in `src` (a file whose module path is `module`, `[]` for the crate root) that
/// names an item of the crate root: `crate::x`, `$crate::x`, `crate::{x, y}`, and `super::`
/// chains that climb to the root (inline `mod name { ... }` blocks count as levels).
fn root_uses(src: &str, module: &[String]) -> Vec<RootUse> {
    let stripped = strip(src);
    let toks = tokens(&stripped);
    let line_of = |offset: usize| stripped[..offset].matches('\n').count() + 1;
    let text_from = |i: usize| {
        let start = toks[i].0;
        let end = stripped[start..]
            .find([';', '\n'])
            .map_or(stripped.len(), |e| start + e);
        stripped[start..end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = Vec::new();
    // Inline modules: (name, brace depth inside them).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut pending_mod: Option<String> = None;
    for i in 0..toks.len() {
        match &toks[i].1 {
            Tok::Punct('{') => {
                depth += 1;
                if let Some(name) = pending_mod.take() {
                    inline.push((name, depth));
                }
            }
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                while inline.last().is_some_and(|(_, d)| *d > depth) {
                    inline.pop();
                }
            }
            Tok::Punct(';') => pending_mod = None,
            Tok::Ident(w) if w == "mod" => {
                pending_mod = ident_at(&toks, i + 1).map(str::to_owned);
            }
            Tok::Ident(w) if w == "crate" && is_path_sep(&toks, i + 1) => {
                for item in first_segments(&toks, i + 3) {
                    out.push(RootUse {
                        line: line_of(toks[i].0),
                        item,
                        text: text_from(i),
                    });
                }
            }
            Tok::Ident(w) if w == "super" && !(i >= 2 && is_path_sep(&toks, i - 2)) => {
                let mut ups = 0;
                let mut j = i;
                while ident_at(&toks, j) == Some("super") && is_path_sep(&toks, j + 1) {
                    ups += 1;
                    j += 3;
                }
                let level = module.len() + inline.len();
                if ups > 0 && ups >= level {
                    assert_eq!(ups, level, "a super:: path above the crate root");
                    for item in first_segments(&toks, j) {
                        out.push(RootUse {
                            line: line_of(toks[i].0),
                            item,
                            text: text_from(i),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The module path of a file under `src/`: `src/a/b.rs` and `src/a/b/mod.rs` are `[a, b]`,
/// `src/lib.rs` is `[]`.
fn module_path(src_dir: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src_dir).expect("a file under src/");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    match last.as_str() {
        "lib.rs" | "mod.rs" => {}
        name => parts.push(name.trim_end_matches(".rs").to_owned()),
    }
    parts
}

/// `#[macro_export]` macros, which live at the crate root: name -> top-level module.
fn exported_macros(files: &[(PathBuf, Vec<String>, String)]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (_, module, src) in files {
        let toks = tokens(&strip(src));
        for i in 0..toks.len() {
            let exported = is(&toks, i, &Tok::Punct('#'))
                && is(&toks, i + 1, &Tok::Punct('['))
                && ident_at(&toks, i + 2) == Some("macro_export");
            if !exported {
                continue;
            }
            let def = (i..toks.len()).find(|&j| {
                ident_at(&toks, j) == Some("macro_rules") && is(&toks, j + 1, &Tok::Punct('!'))
            });
            if let Some(name) = def.and_then(|j| ident_at(&toks, j + 2))
                && let Some(top) = module.first()
            {
                out.insert(name.to_owned(), top.clone());
            }
        }
    }
    out
}

/// Every `.rs` file of `src/` with its module path and text.
fn source_files() -> Vec<(PathBuf, Vec<String>, String)> {
    let src_dir = root().join("src");
    files_under(&src_dir, ".rs")
        .into_iter()
        .map(|f| {
            let module = module_path(&src_dir, &f);
            let text = read(&f);
            (f, module, text)
        })
        .collect()
}

/// The modules `src/lib.rs` declares.
fn declared_modules(lib: &str) -> BTreeSet<String> {
    let toks = tokens(&strip(lib));
    (0..toks.len())
        .filter(|&i| ident_at(&toks, i) == Some("mod") && is(&toks, i + 2, &Tok::Punct(';')))
        .filter_map(|i| ident_at(&toks, i + 1).map(str::to_owned))
        .collect()
}

#[test]
fn the_layer_table_lists_every_module_once_and_only_downward_uses() {
    let rows = layer_table(&read(&root().join("arch/README.md")));
    let mut problems = String::new();
    let mut seen = BTreeSet::new();
    for row in &rows {
        if !seen.insert(row.module.clone()) {
            writeln!(problems, "`{}` has two rows", row.module).unwrap();
        }
    }
    let declared = declared_modules(&read(&root().join("src/lib.rs")));
    for m in declared.difference(&seen) {
        writeln!(
            problems,
            "src/lib.rs declares `{m}`, which has no row in the table"
        )
        .unwrap();
    }
    for m in seen.difference(&declared) {
        writeln!(
            problems,
            "the table has a row for `{m}`, which src/lib.rs does not declare"
        )
        .unwrap();
    }
    for (i, row) in rows.iter().enumerate() {
        if row.layer.is_empty() {
            writeln!(problems, "`{}` has no layer", row.module).unwrap();
        }
        for used in &row.may_use {
            if !rows[i + 1..].iter().any(|r| &r.module == used) {
                writeln!(
                    problems,
                    "`{}` may use `{used}`, which is not in a row below it (a cycle, or a typo)",
                    row.module
                )
                .unwrap();
            }
        }
    }
    assert!(problems.is_empty(), "arch/README.md, Layers:\n{problems}");
}

/// Checks every file's root-reaching paths against the table: the number of cross-module
/// paths found, and one line per path the table does not allow.
fn layer_violations(rows: &[Row], files: &[(PathBuf, Vec<String>, String)]) -> (usize, String) {
    let allowed: BTreeMap<&str, &BTreeSet<String>> = rows
        .iter()
        .map(|r| (r.module.as_str(), &r.may_use))
        .collect();
    let macros = exported_macros(files);
    let mut problems = String::new();
    let mut edges = 0;
    for (file, module, src) in files {
        let Some(own) = module.first() else {
            continue; // src/lib.rs, the crate root
        };
        for u in root_uses(src, module) {
            let target = match (allowed.contains_key(u.item.as_str()), macros.get(&u.item)) {
                (true, _) => u.item.clone(),
                (false, Some(defined_in)) => defined_in.clone(),
                (false, None) => {
                    writeln!(
                        problems,
                        "{}:{}: `{}` names `{}`, which is neither a module of the table nor an \
                         exported macro",
                        rel(file),
                        u.line,
                        u.text,
                        u.item
                    )
                    .unwrap();
                    continue;
                }
            };
            if &target == own {
                continue;
            }
            edges += 1;
            let ok = allowed
                .get(own.as_str())
                .is_some_and(|may| may.contains(&target));
            if !ok {
                writeln!(
                    problems,
                    "{}:{}: `{}`: `{own}` uses `{target}`, which its row in arch/README.md \
                     (Layers) does not allow",
                    rel(file),
                    u.line,
                    u.text
                )
                .unwrap();
            }
        }
    }
    (edges, problems)
}

#[test]
fn every_crate_path_points_down_the_layer_order() {
    let rows = layer_table(&read(&root().join("arch/README.md")));
    let (edges, problems) = layer_violations(&rows, &source_files());
    assert!(
        edges > 50,
        "found only {edges} cross-module paths: the scan is broken"
    );
    assert!(
        problems.is_empty(),
        "paths against the layer order:\n{problems}"
    );
}

#[test]
fn one_upward_use_fails_the_check() {
    // The tree as it is, plus one file of the stack layer that reaches up to the runtime, in
    // a `use` group.
    let rows = layer_table(&read(&root().join("arch/README.md")));
    let mut files = source_files();
    files.push((
        root().join("src/stack/upward.rs"),
        vec!["stack".to_owned(), "upward".to_owned()],
        "use std::io;\nuse crate::{runtime::Builder, stack};\n".to_owned(),
    ));
    let (_, problems) = layer_violations(&rows, &files);
    assert_eq!(
        problems,
        "src/stack/upward.rs:2: `crate::{runtime::Builder, stack}`: `stack` uses `runtime`, \
         which its row in arch/README.md (Layers) does not allow\n"
    );
}

#[test]
fn the_path_scanner_finds_every_form() {
    let src = r##"
        use crate::{alpha, beta::{x, y}, gamma::z as w};
        use crate::delta;
        pub(crate) fn f() -> crate::epsilon::T { crate::zeta::call() }
        pub(in crate::eta) struct S;
        macro_rules! m { () => { $crate::theta::go!() } }
        // crate::commented::out
        /// [link](crate::doc_link)
        const S: &str = "crate::in_a_string";
        const R: &str = r#"crate::raw"#;
        const C: char = '"'; fn g<'a>(x: &'a str) { crate::iota::h(x) }
        const Q: char = '\''; const B: u8 = b'"'; const CS: &CStr = cr#"crate::c"#;
        use crate::{mu, *};
        use super::sibling;
        mod tests {
            use super::*;
            use super::super::super::kappa;
        }
        use super::super::lambda;
    "##;
    let found: Vec<String> = root_uses(src, &["own".to_owned(), "file".to_owned()])
        .into_iter()
        .map(|u| u.item)
        .collect();
    assert_eq!(
        found,
        [
            "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "mu",
            "*", "kappa", "lambda"
        ]
    );
    // From a top-level file, one `super::` reaches the root.
    let top: Vec<String> = root_uses("use super::root_item;", &["own".to_owned()])
        .into_iter()
        .map(|u| u.item)
        .collect();
    assert_eq!(top, ["root_item"]);
    let line = root_uses(
        "\n\nfn f() {\n  crate::deep::x();\n}\n",
        &["own".to_owned()],
    );
    assert_eq!(line[0].line, 4);
    assert_eq!(line[0].text, "crate::deep::x()");
}

// ---------------------------------------------------------------------------------------------
// Invariant IDs.

/// An ID: one to three capital letters and digits (`P1`, `CO4`, `RW5`), split.
fn split_id(word: &str) -> Option<(&str, u32)> {
    let letters = word.chars().take_while(char::is_ascii_uppercase).count();
    let (prefix, digits) = word.split_at(letters);
    if !(1..=3).contains(&letters)
        || digits.is_empty()
        || !digits.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    Some((prefix, digits.parse().ok()?))
}

/// IDs defined in `arch/`: paragraphs starting `- **ID**` (a primed `- **W1′**` refines W1).
fn defined_ids() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for page in files_under(&root().join("arch"), ".md") {
        for (n, line) in read(&page).lines().enumerate() {
            let Some(rest) = line.trim_start().strip_prefix("- **") else {
                continue;
            };
            let Some(end) = rest.find("**") else { continue };
            let word = rest[..end].trim_end_matches('′');
            if split_id(word).is_some() {
                out.entry(word.to_owned())
                    .or_insert_with(|| format!("{}:{}", rel(&page), n + 1));
            }
        }
    }
    out
}

/// The IDs listed by the index table of `arch/README.md` (first cells such as `P1`, `J1–J4`).
fn indexed_ids(readme: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let index = readme
        .lines()
        .skip_while(|l| l.trim() != "## Invariants")
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with('|'));
    for line in index {
        let Some(first) = cells(line).next() else {
            continue;
        };
        let ids: Vec<&str> = first.split('–').map(str::trim).collect();
        match ids.as_slice() {
            [one] => {
                if split_id(one).is_some() {
                    out.insert((*one).to_owned());
                }
            }
            [from, to] => {
                let (Some((p, a)), Some((q, b))) = (split_id(from), split_id(to)) else {
                    continue;
                };
                assert_eq!(p, q, "an index range across prefixes: {first}");
                out.extend((a..=b).map(|k| format!("{p}{k}")));
            }
            _ => panic!("an index cell with two dashes: {first}"),
        }
    }
    out
}

/// IDs with one of `prefixes` cited anywhere in `text` (ranges such as `S4–S7` count for
/// each ID they cover).
fn cited_ids(text: &str, prefixes: &BTreeSet<String>) -> BTreeSet<String> {
    // Words: runs of ASCII letters, digits and `_`, as (start, end) byte offsets.
    let mut words = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        match (c.is_ascii_alphanumeric() || c == '_', start) {
            (true, None) => start = Some(at),
            (false, Some(s)) => {
                words.push((s, at));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push((s, text.len()));
    }
    let mut out = BTreeSet::new();
    for (k, &(from, to)) in words.iter().enumerate() {
        let word = &text[from..to];
        let Some((prefix, n)) = split_id(word) else {
            continue;
        };
        if !prefixes.contains(prefix) {
            continue;
        }
        out.insert(word.to_owned());
        // `X1–X4`: the next word follows an en dash directly.
        if let Some(&(next_from, next_to)) = words.get(k + 1)
            && text[to..next_from] == *"–"
            && let Some((next_prefix, m)) = split_id(&text[next_from..next_to])
            && next_prefix == prefix
        {
            out.extend((n..=m).map(|i| format!("{prefix}{i}")));
        }
    }
    out
}

#[test]
fn every_invariant_id_is_defined_indexed_and_cited() {
    let readme = read(&root().join("arch/README.md"));
    let defined = defined_ids();
    let indexed = indexed_ids(&readme);
    let prefixes: BTreeSet<String> = defined
        .keys()
        .chain(&indexed)
        .filter_map(|id| split_id(id).map(|(p, _)| p.to_owned()))
        .collect();
    let mut cited: BTreeMap<String, String> = BTreeMap::new();
    for (file, _, src) in source_files() {
        for (n, line) in src.lines().enumerate() {
            for id in cited_ids(line, &prefixes) {
                cited
                    .entry(id)
                    .or_insert_with(|| format!("{}:{}", rel(&file), n + 1));
            }
        }
    }
    // The scanners found the documents at all (a changed heading or definition format would
    // otherwise make every check below pass on empty sets).
    assert!(
        defined.len() > 50 && indexed.len() > 50 && cited.len() > 50,
        "found {} defined, {} indexed and {} cited IDs: the scan is broken",
        defined.len(),
        indexed.len(),
        cited.len()
    );
    let mut problems = String::new();
    for (id, at) in &cited {
        if !defined.contains_key(id) {
            writeln!(
                problems,
                "{at}: {id} is cited but no arch/ page defines it (`- **{id}**`)"
            )
            .unwrap();
        }
    }
    for (id, at) in &defined {
        if !cited.contains_key(id) {
            writeln!(
                problems,
                "{at}: {id} is defined but nothing in src/ cites it"
            )
            .unwrap();
        }
        if !indexed.contains(id) {
            writeln!(
                problems,
                "{at}: {id} is missing from the index of arch/README.md"
            )
            .unwrap();
        }
    }
    for id in &indexed {
        if !defined.contains_key(id) {
            writeln!(
                problems,
                "arch/README.md: the index lists {id}, which no page defines"
            )
            .unwrap();
        }
    }
    assert!(problems.is_empty(), "invariant IDs:\n{problems}");
}

#[test]
fn the_id_scanner_reads_ranges_and_skips_other_words() {
    let prefixes: BTreeSet<String> = ["S", "CO", "P"].iter().map(|s| s.to_string()).collect();
    let ids = cited_ids(
        "S4–S7 and CO4, not AtomicU8, SO_RCVTIMEO, P2P or x86",
        &prefixes,
    );
    let want: BTreeSet<String> = ["S4", "S5", "S6", "S7", "CO4"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(ids, want);
}

// ---------------------------------------------------------------------------------------------
// File paths named in the docs.

/// The `*.rs` paths named in `text`: a word of path characters ending in `.rs`.
fn rs_paths(text: &str) -> Vec<&str> {
    let path_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.');
    text.split(|c: char| !path_char(c))
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| w.ends_with(".rs") && w.len() > 3 && !w.starts_with('.'))
        .collect()
}

#[test]
fn every_file_path_in_the_docs_exists() {
    let root = root();
    let tree: Vec<String> = ["src", "tests", "benches", "examples"]
        .iter()
        .flat_map(|d| files_under(&root.join(d), ".rs"))
        .map(|f| format!("/{}", rel(&f)))
        .collect();
    let exists = |path: &str| {
        let wanted = format!("/{}", path.trim_start_matches("./"));
        tree.iter().any(|f| f.ends_with(&wanted))
    };
    let mut docs: Vec<PathBuf> = files_under(&root.join("arch"), ".md");
    docs.push(root.join("README.md"));
    docs.extend(files_under(&root.join("src"), ".rs"));
    let mut problems = String::new();
    for doc in docs {
        let text = read(&doc);
        let is_rust = doc.extension().is_some_and(|e| e == "rs");
        let mut fenced = false;
        for (n, line) in text.lines().enumerate() {
            // In Markdown, fenced blocks show commands and program output, not references.
            if !is_rust && line.trim_start().starts_with("```") {
                fenced = !fenced;
                continue;
            }
            if fenced {
                continue;
            }
            // In source files only comments name paths.
            let line = if is_rust {
                match line.find("//") {
                    Some(at) => &line[at..],
                    None => continue,
                }
            } else {
                line
            };
            for path in rs_paths(line) {
                if !exists(path) {
                    writeln!(problems, "{}:{}: `{path}` does not exist", rel(&doc), n + 1).unwrap();
                }
            }
        }
    }
    assert!(problems.is_empty(), "file paths in the docs:\n{problems}");
}
