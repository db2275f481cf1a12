//! Progress for people: a bar on a terminal, a log line every few seconds otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use octo_migrate_core::{Phase, Progress, ProgressSink};

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
        // One short line per phase, named; the per-collection counts are in the final table.
        let what = p.phase.name();
        let started = match self {
            Reporter::Bar(_, _, t) | Reporter::Log(_, t) => *t,
        };
        let rate = p.items as f64 / started.elapsed().as_secs_f64().max(0.001);
        let counting = matches!(p.phase, Phase::Indexing | Phase::Migrating);
        match self {
            Reporter::Bar(bar, seen, _) => {
                let mut seen = seen.lock().expect("progress lock");
                let phase = p.phase as u8 + 1;
                if *seen != phase {
                    *seen = phase;
                    bar.reset();
                    let style = match p.dump_total {
                        Some(total) if counting => {
                            bar.set_length(total);
                            ProgressStyle::with_template(
                                "{msg} [{bar:24}] {bytes}/{total_bytes} eta {eta}",
                            )
                        }
                        _ if counting => ProgressStyle::with_template("{spinner} {msg} {bytes}"),
                        _ => ProgressStyle::with_template("{spinner} {msg}"),
                    };
                    bar.set_style(style.expect("template").progress_chars("=> "));
                }
                if counting {
                    bar.set_position(p.dump_bytes);
                    bar.set_message(format!("{what}: {} documents ({rate:.0}/s)", p.items));
                } else {
                    bar.set_message(what.to_owned());
                }
            }
            Reporter::Log(state, _) => {
                let mut s = state.lock().expect("progress lock");
                let phase = p.phase as u8 + 1;
                if s.1 != phase || s.0.elapsed() >= LOG_EVERY {
                    s.0 = Instant::now();
                    s.1 = phase;
                    if !counting {
                        eprintln!("{what}");
                        return;
                    }
                    let of = p
                        .dump_total
                        .map(|t| format!(" of {:.1} MiB", mib(t)))
                        .unwrap_or_default();
                    eprintln!(
                        "{what}: {:.1} MiB{of} of the dump, {} documents ({rate:.0}/s)",
                        mib(p.dump_bytes),
                        p.items
                    );
                }
            }
        }
    }
}
