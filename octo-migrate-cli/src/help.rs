//! What `--help` shows after the options: examples of each subcommand and the exit codes
//! (from `exit::CODES`, where they are written down once). `octo-migrate man` turns the same
//! texts into the man pages' EXAMPLES and EXIT STATUS sections.

use crate::exit;

/// The column the exit codes' meanings are wrapped at (an 80-column terminal).
const WIDTH: usize = 80;

/// One example: what it does, and the command split into the lines it is shown on (joined by
/// ` \` continuations, as a POSIX shell reads them).
struct Example {
    what: &'static str,
    lines: &'static [&'static str],
}

const MIGRATE: &[Example] = &[
    Example {
        what: "Into a SQLite file, keeping 90 days of history, with the report as JSON (and \
               tentacles.csv):",
        lines: &[
            "octo-migrate migrate --file 20150630-101112.octobak",
            "--master-key-file masterkey.txt --target sqlite:octopus3.db",
            "--target-master-key-file masterkey-3x.txt --maxage 90",
            "--report report.json",
        ],
    },
    Example {
        what: "Into the SQL Server database of an installed Octopus 3.x (its master key from \
               show-master-key on that server; the password in a file only you can read, or \
               the whole connection string with --target-file); TaskLogs/ and Artifacts/ go to \
               the folder that server reads them from:",
        lines: &[
            "octo-migrate migrate --file 20150630-101112.octobak",
            "--master-key-file masterkey.txt",
            "--target-master-key-file masterkey-3x.txt",
            "--target \"mssql://octo@db01:1433/Octopus\" --target-password-file pw.txt",
            "--files-dir 'C:\\Octopus' --report report.json",
        ],
    },
    Example {
        what: "A dry run: read, decrypt, transform and check everything, write nothing:",
        lines: &[
            "octo-migrate migrate --file 20150630-101112.octobak",
            "--master-key-file masterkey.txt --skip-unsupported-steps --dry-run",
        ],
    },
];

const VERIFY: &[Example] = &[
    Example {
        what:
            "Prove the first migrate example: the same backup, keys and --maxage, and as --as-of \
           the time that migration ran:",
        lines: &[
            "octo-migrate verify --file 20150630-101112.octobak",
            "--master-key-file masterkey.txt --target sqlite:octopus3.db",
            "--target-master-key-file masterkey-3x.txt --maxage 90",
            "--as-of 2015-07-01T09:30:00+02:00",
        ],
    },
    Example {
        what: "The same from the migration's report (migrate --report report.json), which records \
           --maxage with the time it counted from, --nologs, --skip-unsupported-steps and the \
           merge mode:",
        lines: &[
            "octo-migrate verify --file 20150630-101112.octobak",
            "--master-key-file masterkey.txt --target sqlite:octopus3.db",
            "--target-master-key-file masterkey-3x.txt --report report.json",
        ],
    },
];

const INSPECT: &[Example] = &[Example {
    what: "Check that a backup and its key belong together, see how much history --maxage \
           30, 90, 180 or 365 would keep and what would block the migration (unsupported steps, \
           values that do not decrypt, names too long for 3.x):",
    lines: &[
        "octo-migrate inspect --file 20150630-101112.octobak",
        "--master-key-file masterkey.txt",
    ],
}];

const COPY_PACKAGES: &[Example] = &[
    Example {
        what: "Move the built-in package repository (no backup holds it) to Octopus 3.x:",
        lines: &[
            "octo-migrate copy-packages",
            "--from 'C:\\Octopus\\OctopusServer\\Repository\\Packages'",
            "--to 'C:\\Octopus\\Packages'",
        ],
    },
    Example {
        what: "First see what it would copy, skip and reject, as JSON, writing nothing:",
        lines: &[
            "octo-migrate copy-packages",
            "--from 'C:\\Octopus\\OctopusServer\\Repository\\Packages'",
            "--to 'C:\\Octopus\\Packages' --dry-run --json",
        ],
    },
];

const GENERATE_SAMPLE: &[Example] = &[Example {
    what: "A sample backup of about 2.5 MB and its test key (sample.octobak.key):",
    lines: &["octo-migrate generate-sample --out sample.octobak --scale 10 --seed 1"],
}];

const COMPLETIONS: &[Example] = &[
    Example {
        what: "Bash, for your user (new shells complete octo-migrate):",
        lines: &["octo-migrate completions bash > ~/.local/share/bash-completion/completions/octo-migrate"],
    },
    Example {
        what: "Fish:",
        lines: &["octo-migrate completions fish > ~/.config/fish/completions/octo-migrate.fish"],
    },
    Example {
        what: "Zsh (with fpath+=~/.zfunc before compinit in ~/.zshrc):",
        lines: &["octo-migrate completions zsh > ~/.zfunc/_octo-migrate"],
    },
];

const MAN: &[Example] = &[
    Example {
        what: "The overview page, for your user (man finds it when ~/.local/bin is on your PATH):",
        lines: &["octo-migrate man > ~/.local/share/man/man1/octo-migrate.1"],
    },
    Example {
        what: "One page per subcommand too (octo-migrate-migrate.1, ...):",
        lines: &["octo-migrate man --out ~/.local/share/man/man1"],
    },
];

/// After the top-level options: the exit codes, for all subcommands.
pub fn top() -> String {
    format!(
        "{}\n\n{}\n\n{}",
        exit_codes(),
        hanging(
            "  ",
            "verify exits 1 when the target differs from the backup, copy-packages when it \
             rejects a package.",
            2
        ),
        "Each command's options and examples: octo-migrate help COMMAND"
    )
}

pub fn migrate() -> String {
    format!("{}\n\n{}", examples(MIGRATE), exit_codes())
}

pub fn verify() -> String {
    format!(
        "{}\n\n{}",
        examples(VERIFY),
        table(
            exit::VERIFY_CODES.iter().chain(
                exit::CODES.iter().filter(|(c, _)| ![
                    exit::SUCCESS,
                    exit::WARNINGS,
                    exit::NOT_FINISHED
                ]
                .contains(c))
            )
        )
    )
}

pub fn inspect() -> String {
    examples(INSPECT)
}

pub fn copy_packages() -> String {
    format!(
        "{}\n\nExit codes:\n{}",
        examples(COPY_PACKAGES),
        hanging(
            "  ",
            "0 when every package is in place, 1 when one was rejected (it is named; the \
             others are still copied), 2 for a usage error, 5 when the 3.x folder cannot be \
             written.",
            2
        )
    )
}

pub fn generate_sample() -> String {
    examples(GENERATE_SAMPLE)
}

pub fn completions() -> String {
    examples(COMPLETIONS)
}

pub fn man() -> String {
    examples(MAN)
}

fn examples(list: &[Example]) -> String {
    let mut s = String::from("Examples:");
    for (i, e) in list.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&hanging("  ", e.what, 2));
        for (j, line) in e.lines.iter().enumerate() {
            s.push_str(if j == 0 { "\n    " } else { "\n        " });
            s.push_str(line);
            if j + 1 < e.lines.len() {
                s.push_str(" \\");
            }
        }
    }
    s
}

/// `exit::CODES` as a table.
fn exit_codes() -> String {
    table(exit::CODES.iter())
}

/// An "Exit codes:" section: each code, then its meaning wrapped under itself.
fn table<'a>(codes: impl Iterator<Item = &'a (u8, &'a str)>) -> String {
    let mut s = String::from("Exit codes:");
    for (code, meaning) in codes {
        s.push('\n');
        s.push_str(&hanging(&format!("  {code:<5}"), meaning, 7));
    }
    s
}

/// `head`, then the words of `text` wrapped at `WIDTH`, continued at column `indent`.
fn hanging(head: &str, text: &str, indent: usize) -> String {
    let mut s = String::from(head);
    let mut column = head.len();
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 && column + 1 + word.len() > WIDTH {
            s.push('\n');
            s.push_str(&" ".repeat(indent));
            column = indent;
        } else if i > 0 {
            s.push(' ');
            column += 1;
        }
        s.push_str(word);
        column += word.len();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// A POSIX shell's words of `line`, enough for the examples: single and double quotes
    /// (the latter without escapes), and nothing from a `>` redirection on.
    fn words(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut word: Option<String> = None;
        let mut quote = None;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.get_or_insert_with(String::new).push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    word.get_or_insert_with(String::new);
                }
                (None, '>') => break,
                (None, c) if c.is_whitespace() => out.extend(word.take()),
                (None, c) => word.get_or_insert_with(String::new).push(c),
            }
        }
        assert!(quote.is_none(), "unclosed quote in {line}");
        out.extend(word);
        out
    }

    /// Every example is a command line the parser accepts: the examples cannot name an option
    /// that does not exist, or combine two that exclude each other.
    #[test]
    fn every_example_parses() {
        let all = [
            MIGRATE,
            VERIFY,
            INSPECT,
            COPY_PACKAGES,
            GENERATE_SAMPLE,
            COMPLETIONS,
            MAN,
        ];
        for e in all.iter().flat_map(|l| l.iter()) {
            let args = words(&e.lines.join(" "));
            assert_eq!(args[0], "octo-migrate");
            if let Err(err) = crate::args::Cli::try_parse_from(&args) {
                panic!("{args:?}: {err}");
            }
        }
    }

    #[test]
    fn the_examples_show_each_subcommand_it_documents() {
        for (name, list) in [
            ("migrate", MIGRATE),
            ("verify", VERIFY),
            ("inspect", INSPECT),
            ("copy-packages", COPY_PACKAGES),
            ("generate-sample", GENERATE_SAMPLE),
            ("completions", COMPLETIONS),
            ("man", MAN),
        ] {
            for e in list {
                assert_eq!(words(e.lines[0])[1], name, "{}", e.what);
            }
        }
    }

    #[test]
    fn exit_codes_wrap_under_their_meaning() {
        let t = exit_codes();
        for line in t.lines() {
            assert!(line.len() <= WIDTH, "{line}");
        }
        assert!(t.contains("\n  130  interrupted"), "{t}");
        assert!(
            t.contains("\n  7    committed, but finishing failed"),
            "{t}"
        );
    }
}
