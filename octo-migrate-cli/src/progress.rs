//! Progress for people: a bar on a terminal, a log line every few seconds otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use octo_migrate_core::{Progress, ProgressSink};

/// How often the non-terminal log line is written.
const LOG_EVERY: Duration = Duration::from_secs(5);

pub enum Reporter {
    Bar(ProgressBar, Mutex<u8>, Instant),
    Log(Mutex<(Instant, u8)>, Instant),
}

impl Reporter {
    /// `None` when `quiet`.
    pub fn new(quiet: bool) -> Option<Reporter> {
        if quiet {
            return None;
        }
        Some(if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(200));
            Reporter::Bar(bar, Mutex::new(0), Instant::now())
        } else {
            Reporter::Log(Mutex::new((Instant::now(), 0)), Instant::now())
        })
    }

    pub fn finish(&self) {
        if let Reporter::Bar(bar, _, _) = self {
            bar.finish_and_clear();
        }
    }
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

impl ProgressSink for Reporter {
    fn report(&self, p: &Progress) {
        let what = if p.pass == 1 { "indexing" } else { "migrating" };
        let started = match self {
            Reporter::Bar(_, _, t) | Reporter::Log(_, t) => *t,
        };
        let rate = p.items as f64 / started.elapsed().as_secs_f64().max(0.001);
        let counts: Vec<String> = p
            .collections
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let counts = if counts.is_empty() {
            String::new()
        } else {
            format!(" [{}]", counts.join(", "))
        };
        match self {
            Reporter::Bar(bar, pass, _) => {
                let mut seen = pass.lock().expect("progress lock");
                if *seen != p.pass {
                    *seen = p.pass;
                    bar.reset();
                    match p.dump_total {
                        Some(total) => {
                            bar.set_length(total);
                            bar.set_style(
                                ProgressStyle::with_template(
                                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                                )
                                .expect("template")
                                .progress_chars("=> "),
                            );
                        }
                        None => bar.set_style(
                            ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec}")
                                .expect("template"),
                        ),
                    }
                }
                bar.set_position(p.dump_bytes);
                bar.set_message(format!(
                    "pass {} {what}: {} documents ({rate:.0}/s){counts}",
                    p.pass, p.items
                ));
            }
            Reporter::Log(state, _) => {
                let mut s = state.lock().expect("progress lock");
                if s.1 != p.pass || s.0.elapsed() >= LOG_EVERY {
                    s.0 = Instant::now();
                    s.1 = p.pass;
                    let of = p
                        .dump_total
                        .map(|t| format!(" of {:.1} MiB", mib(t)))
                        .unwrap_or_default();
                    eprintln!(
                        "pass {} {what}: {:.1} MiB{of} of the dump, {} documents ({rate:.0}/s){counts}",
                        p.pass,
                        mib(p.dump_bytes),
                        p.items
                    );
                }
            }
        }
    }
}
