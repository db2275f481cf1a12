//! What `--help`, the completion scripts and the man pages tell an administrator: examples,
//! exit codes (the same as README.md's), defaults said once, each command's own wording.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn cmd() -> Command {
    let mut c = Command::cargo_bin("octo-migrate").unwrap();
    c.env_remove("OCTO_MIGRATE_MASTER_KEY");
    c
}

/// Absolute with a drive on Windows: cross-built there, `CARGO_MANIFEST_DIR` is the build
/// machine's `/work/...`, which a child started in a folder on another drive would look for on
/// that drive (scripts/windows.sh runs these tests under Wine).
fn testdata(name: &str) -> PathBuf {
    std::path::absolute(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata")
            .join(name),
    )
    .unwrap()
}

/// The stdout of a run that must succeed.
fn stdout(args: &[&str]) -> String {
    let out = cmd()
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

/// `--help` of the top level (`[]`) or of a subcommand.
fn help(sub: &[&str]) -> String {
    stdout(&[sub, &["--help"]].concat())
}

/// Every subcommand, the hidden one too, but not clap's `help`.
const SUBCOMMANDS: &[&str] = &[
    "migrate",
    "verify",
    "inspect",
    "copy-packages",
    "generate-sample",
    "completions",
    "man",
];

/// The subcommands the top-level help lists, with their about text.
fn listed() -> Vec<(String, String)> {
    section(&help(&[]), "Commands:")
        .iter()
        .filter_map(|l| {
            let (name, about) = l.trim().split_once(char::is_whitespace)?;
            (name != "help").then(|| (name.to_owned(), about.trim().to_owned()))
        })
        .collect()
}

/// The lines under a `Heading:` line, up to the next line that is not indented.
fn section<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| *l != heading);
    assert!(lines.next().is_some(), "no {heading:?} in:\n{text}");
    lines
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .collect()
}

fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An "Exit codes:" table: a row is `  CODE  meaning`, its meaning continued on lines indented
/// further; any other line (a note) ends the row.
fn exit_table(text: &str) -> BTreeMap<u8, String> {
    let mut table = BTreeMap::new();
    let mut row: Option<u8> = None;
    for line in section(text, "Exit codes:") {
        let code = line.strip_prefix("  ").and_then(|l| {
            let (c, rest) = l.split_once(' ')?;
            Some((c.parse::<u8>().ok()?, rest))
        });
        match code {
            Some((c, meaning)) => {
                assert!(table.insert(c, words(meaning)).is_none(), "{c} twice");
                row = Some(c);
            }
            None if line.starts_with("       ") && row.is_some() => {
                let m = table.get_mut(&row.unwrap()).unwrap();
                *m = words(&format!("{m} {line}"));
            }
            None => row = None,
        }
    }
    table
}

/// README.md's "Exit codes" table.
fn readme_exit_codes() -> BTreeMap<u8, String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let table: BTreeMap<u8, String> = readme
        .lines()
        .skip_while(|l| l.trim() != "### Exit codes")
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            Some((cells.get(1)?.parse().ok()?, words(cells.get(2)?)))
        })
        .collect();
    assert!(
        table.len() >= 10,
        "README's exit codes not found: {table:?}"
    );
    table
}

/// The examples of a help text, each as one line (continuations joined).
fn examples(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in section(text, "Examples:") {
        let l = line.trim();
        if let Some(c) = &mut current {
            c.push(' ');
            c.push_str(l.trim_end_matches('\\').trim());
            if !l.ends_with('\\') {
                out.extend(current.take());
            }
        } else if l.starts_with("octo-migrate ") {
            current = Some(l.trim_end_matches('\\').trim().to_owned());
            if !l.ends_with('\\') {
                out.extend(current.take());
            }
        }
    }
    out
}

#[test]
fn every_subcommand_shows_examples_of_itself() {
    for sub in SUBCOMMANDS {
        for flag in ["-h", "--help"] {
            let text = stdout(&[sub, flag]);
            let ex = examples(&text);
            assert!(!ex.is_empty(), "{sub} {flag}:\n{text}");
            for e in &ex {
                assert!(e.starts_with(&format!("octo-migrate {sub} ")), "{sub}: {e}");
            }
        }
    }
    let migrate = examples(&help(&["migrate"]));
    let has = |all: &[&str]| migrate.iter().any(|e| all.iter().all(|w| e.contains(w)));
    assert!(
        has(&["--target sqlite:", "--maxage ", "--report "]),
        "{migrate:?}"
    );
    assert!(has(&["mssql://", "--files-dir "]), "{migrate:?}");
    assert!(has(&["--dry-run"]), "{migrate:?}");
    // The verify example checks what the SQLite example migrated.
    let verify = examples(&help(&["verify"]));
    assert!(verify[0].contains("--maxage 90 ") && verify[0].contains("--as-of "));
}

#[test]
fn the_exit_codes_in_help_are_the_readmes() {
    let readme = readme_exit_codes();
    for sub in [&[][..], &["migrate"]] {
        let in_help = exit_table(&help(sub));
        for (code, meaning) in &readme {
            assert_eq!(
                in_help.get(code),
                Some(meaning),
                "code {code} in {sub:?} --help"
            );
        }
        for code in in_help.keys() {
            assert!(
                readme.contains_key(code),
                "{sub:?} --help has {code}, README not"
            );
        }
    }
    // verify says what 0 and 1 mean for it, lists no 7 (it writes nothing), and the rest as
    // everywhere.
    let verify = exit_table(&help(&["verify"]));
    assert!(verify[&0].contains("the target holds what the backup gives"));
    assert!(verify[&1].contains("differs"));
    assert!(!verify.contains_key(&7));
    for (code, meaning) in readme.iter().filter(|(c, _)| ![0, 1, 7].contains(*c)) {
        assert_eq!(
            verify.get(code),
            Some(meaning),
            "code {code} in verify --help"
        );
    }
}

/// Every option's entry in every help says "default" at most once: clap's `[default: ...]` or
/// the doc text's, not both.
#[test]
fn defaults_are_shown_once() {
    let mut commands: Vec<Vec<&str>> = vec![vec![]];
    commands.extend(SUBCOMMANDS.iter().map(|s| vec![*s]));
    for sub in commands {
        for flag in ["-h", "--help"] {
            let text = stdout(&[&sub[..], &[flag]].concat());
            let mut entries: Vec<String> = Vec::new();
            for line in section(&text, "Options:") {
                if line.trim_start().starts_with('-') {
                    entries.push(line.to_owned());
                } else if let Some(e) = entries.last_mut() {
                    e.push_str(line);
                }
            }
            assert!(!entries.is_empty(), "{sub:?}");
            for e in entries {
                let n = e.to_lowercase().matches("default").count();
                assert!(n <= 1, "{sub:?} {flag}: {e}");
            }
        }
    }
    let options = section(&help(&["migrate"]), "Options:").join("\n");
    assert_eq!(
        options.matches("sqlite:octopus3.db").count(),
        1,
        "{options}"
    );
}

/// Each subcommand's help opens with its own about text, the one the top-level list shows, and
/// no shared options struct lends it its words.
#[test]
fn each_subcommand_is_described_in_its_own_words() {
    for (name, about) in listed() {
        let text = help(&[&name]);
        assert_eq!(text.lines().next().unwrap().trim(), about, "{name}");
    }
    for sub in SUBCOMMANDS {
        let text = help(&[sub]);
        for shared in [
            "exactly one of these",
            "What lands in the target",
            "shared by",
        ] {
            assert!(!text.contains(shared), "{sub}: {shared}");
        }
    }
    let verify = help(&["verify"]);
    assert!(verify.starts_with("Check a migrated target against the backup"));
    assert!(!verify.contains("Migrate the data"), "{verify}");
    // verify reads SQL Server targets too, and says that --report gives the options.
    assert!(verify.contains("mssql://"), "{verify}");
    assert!(verify.contains("--report <PATH>"), "{verify}");
    assert!(help(&["migrate"]).contains("Migrate the data, not the task logs"));
}

#[test]
fn short_quiet_and_verbose_flags() {
    let migrate = help(&["migrate"]);
    assert!(migrate.contains("-q, --quiet"), "{migrate}");
    assert!(migrate.contains("-v, --verbose"), "{migrate}");
    for sub in ["verify", "inspect"] {
        assert!(help(&[sub]).contains("-v, --verbose"), "{sub}");
    }
    // -q and -v exclude each other as --quiet and --verbose do.
    cmd()
        .args(["migrate", "--file", "x.octobak", "-q", "-v"])
        .assert()
        .code(2);
    // -q silences the warning about a key on the command line, as --quiet does.
    let key = std::fs::read_to_string(testdata("sample.octobak.key")).unwrap();
    let sample = testdata("sample.octobak");
    for (flag, warned) in [(None, true), (Some("-q"), false), (Some("--quiet"), false)] {
        let mut c = cmd();
        c.args(["migrate", "--file", sample.to_str().unwrap()])
            .args(["--master-key", key.trim(), "--target", "sqlite:"])
            .args(flag);
        let out = c.assert().code(2).get_output().stderr.clone();
        let stderr = String::from_utf8(out).unwrap();
        assert_eq!(
            stderr.contains("warning: a master key"),
            warned,
            "{flag:?}: {stderr}"
        );
    }
    // -v adds the error's detail, now to inspect's errors too.
    let not_a_backup = testdata("sample.octobak.key");
    for (sub, flag) in [
        ("inspect", "-v"),
        ("verify", "-v"),
        ("inspect", "--verbose"),
    ] {
        let out = cmd()
            .args([sub, "--file", not_a_backup.to_str().unwrap()])
            .args(["--master-key-file", not_a_backup.to_str().unwrap(), flag])
            .assert()
            .code(4)
            .get_output()
            .stderr
            .clone();
        let stderr = String::from_utf8(out).unwrap();
        assert!(stderr.contains("\ndetail: "), "{sub} {flag}: {stderr}");
    }
}

#[test]
fn generate_sample_is_hidden_but_works() {
    let names: Vec<String> = listed().into_iter().map(|(n, _)| n).collect();
    assert!(!names.contains(&"generate-sample".to_owned()), "{names:?}");
    for name in [
        "migrate",
        "verify",
        "inspect",
        "copy-packages",
        "completions",
        "man",
    ] {
        assert!(names.contains(&name.to_owned()), "{name} not in {names:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    cmd()
        .current_dir(dir.path())
        .args(["generate-sample", "--out", "s.octobak"])
        .assert()
        .success();
    assert!(dir.path().join("s.octobak").is_file());
    assert!(dir.path().join("s.octobak.key").is_file());
}

#[test]
fn completion_scripts_for_every_shell() {
    let bash = stdout(&["completions", "bash"]);
    assert!(bash.contains("migrate"), "{bash}");
    assert!(bash.contains("--maxage"), "{bash}");
    assert!(bash.contains("complete -F _octo__migrate"), "{bash}");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = stdout(&["completions", shell]);
        for (name, _) in listed() {
            assert!(script.contains(&name), "{shell}: {name}");
        }
        assert!(script.contains("--maxage"), "{shell}");
        assert!(
            !script.contains("generate-sample"),
            "{shell} offers the hidden command"
        );
    }
    cmd().args(["completions", "tcsh"]).assert().code(2);
}

/// The bash script completes past the subcommand: `octo-migrate migrate --max<TAB>`.
#[test]
fn bash_completes_a_subcommands_options() {
    if std::process::Command::new("bash")
        .arg("-c")
        .arg("true")
        .status()
        .is_err()
    {
        eprintln!("no bash here: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("octo-migrate.bash");
    std::fs::write(&script, stdout(&["completions", "bash"])).unwrap();
    let complete = |words: &str, cword: usize| {
        let probe = format!(
            "source '{}'; COMP_WORDS=({words}); COMP_CWORD={cword}; \
             _octo__migrate octo-migrate \"${{COMP_WORDS[COMP_CWORD]}}\" \
             \"${{COMP_WORDS[COMP_CWORD-1]}}\"; echo \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(probe)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    assert!(complete("octo-migrate mig", 1).contains("migrate"));
    assert_eq!(complete("octo-migrate migrate --max", 2), "--maxage");
    assert_eq!(complete("octo-migrate verify --as", 2), "--as-of");
    assert!(complete("octo-migrate completions ''", 2).contains("powershell"));
}

/// The lines before `.TH` only define things (roff requests), and `.TH` names the page.
fn assert_roff_page(page: &str, title: &str) {
    let mut lines = page.lines();
    let th = lines
        .by_ref()
        .take(5)
        .find(|l| {
            assert!(l.starts_with('.'), "not roff: {l}");
            l.starts_with(".TH ")
        })
        .unwrap_or_else(|| panic!("no .TH:\n{page}"));
    assert!(th.starts_with(&format!(".TH {title} 1 ")), "{th}");
    assert!(page.contains("\n.SH NAME\n"), "{page}");
}

#[test]
fn the_man_page() {
    let page = stdout(&["man"]);
    assert_roff_page(&page, "octo-migrate");
    for (name, _) in listed() {
        let roff_name = name.replace('-', "\\-");
        assert!(
            page.contains(&format!("octo\\-migrate\\-{roff_name}(1)")),
            "{name}"
        );
    }
    assert!(!page.contains("generate\\-sample"));
    assert!(page.contains(".SH \"EXIT STATUS\"\n.nf\n"), "{page}");
    for code in readme_exit_codes().keys() {
        assert!(page.contains(&format!("\n{code:<5}")), "exit code {code}");
    }
}

#[test]
fn one_man_page_per_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let written = stdout(&["man", "--out", out.to_str().unwrap()]);
    let mut names: Vec<String> = vec!["octo-migrate".into()];
    names.extend(
        listed()
            .into_iter()
            .map(|(n, _)| format!("octo-migrate-{n}")),
    );
    assert_eq!(written.lines().count(), names.len(), "{written}");
    for name in &names {
        let page = std::fs::read_to_string(out.join(format!("{name}.1"))).unwrap();
        assert_roff_page(&page, name);
    }
    let migrate = std::fs::read_to_string(out.join("octo-migrate-migrate.1")).unwrap();
    assert!(migrate.contains(".SH EXAMPLES\n.nf\n"), "{migrate}");
    assert!(migrate.contains("\\-\\-maxage 90"), "{migrate}");
    assert!(migrate.contains(".SH \"EXIT STATUS\""), "{migrate}");
    assert!(!out.join("octo-migrate-generate-sample.1").exists());
    assert!(!out.join("octo-migrate-help.1").exists());
}
