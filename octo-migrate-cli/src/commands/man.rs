//! `man`: the man pages, rendered by clap_mangen from the same clap definition the command
//! line is parsed with. What `--help` shows after the options (examples, exit codes) becomes
//! the EXAMPLES and EXIT STATUS sections, laid out as in `--help`.

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_mangen::Man;
use roff::{roman, Roff};

use super::print_generated;
use crate::args::{Cli, ManArgs};
use crate::exit::Failure;

pub(super) fn run(a: ManArgs) -> Result<ExitCode, Failure> {
    // Built, the subcommands know their page names (octo-migrate-migrate) and usage lines
    // (octo-migrate migrate ...); `help COMMAND` needs no page.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let Some(dir) = a.out else {
        return print_generated(&page(&cmd));
    };
    let io =
        |e: std::io::Error, p: &Path| Failure::Io(format!("cannot write {}: {e}", p.display()));
    std::fs::create_dir_all(&dir).map_err(|e| io(e, &dir))?;
    let pages = std::iter::once(&cmd).chain(cmd.get_subcommands().filter(|c| !c.is_hide_set()));
    for c in pages {
        let path = dir.join(format!(
            "{}.1",
            c.get_display_name().unwrap_or(c.get_name())
        ));
        std::fs::write(&path, page(c)).map_err(|e| io(e, &path))?;
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The definitions every rendered piece starts with (roff's apostrophe string); a page needs
/// them once.
const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// One command's page: clap_mangen's sections, with the text after the options as our own.
fn page(cmd: &clap::Command) -> Vec<u8> {
    let after = cmd.get_after_help().map(|h| h.to_string());
    let man = Man::new(
        cmd.clone()
            .after_help(None::<&str>)
            .after_long_help(None::<&str>),
    )
    // Every page's footer names the program and version, not the subcommand.
    .source(format!("octo-migrate {}", env!("CARGO_PKG_VERSION")));
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let mut piece = |f: &dyn Fn(&mut Vec<u8>) -> std::io::Result<()>| {
        let mut buf = Vec::new();
        f(&mut buf).expect("writing to memory");
        pieces.push(buf);
    };
    piece(&|w| man.render_title(w));
    piece(&|w| man.render_name_section(w));
    piece(&|w| man.render_synopsis_section(w));
    piece(&|w| man.render_description_section(w));
    piece(&|w| man.render_options_section(w));
    if cmd.get_subcommands().any(|c| !c.is_hide_set()) {
        piece(&|w| man.render_subcommands_section(w));
    }
    if let Some(text) = &after {
        piece(&|w| sections(text).to_writer(w));
    }
    if cmd.get_version().is_some() {
        piece(&|w| man.render_version_section(w));
    }
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        match p.strip_prefix(PREAMBLE.as_bytes()) {
            Some(rest) if i > 0 => out.extend_from_slice(rest),
            _ => out.extend_from_slice(p),
        }
    }
    out
}

/// `--help`'s text after the options as man sections: a line `Heading:` opens a section, the
/// indented lines under it are kept as they are laid out (no filling), one level of indent
/// less.
fn sections(text: &str) -> Roff {
    let mut r = Roff::new();
    let mut body: Vec<&str> = Vec::new();
    let flush = |r: &mut Roff, body: &mut Vec<&str>| {
        while body.last().is_some_and(|l| l.trim().is_empty()) {
            body.pop();
        }
        if !body.is_empty() {
            r.control("nf", []);
            for line in body.drain(..) {
                r.text([roman(line.strip_prefix("  ").unwrap_or(line))]);
            }
            r.control("fi", []);
        }
    };
    for line in text.lines() {
        if line.starts_with(' ') || line.is_empty() {
            body.push(line);
            continue;
        }
        flush(&mut r, &mut body);
        match line.strip_suffix(':') {
            Some("Exit codes") => r.control("SH", ["EXIT STATUS"]),
            Some(heading) => r.control("SH", [heading.to_uppercase().as_str()]),
            None => r.control("PP", []).text([roman(line)]),
        };
    }
    flush(&mut r, &mut body);
    r
}
