//! Ctrl-C, SIGTERM and SIGHUP (the console's control events on Windows) cancel a running
//! migration through the library's [`CancelToken`]: it stops within one batch, rolls back
//! what is not committed, and the command exits 130. A handler is installed, not the default
//! action relied on, so this also works where the tool is PID 1 (a container), whose default
//! signal actions the kernel ignores.

use octo_migrate_core::CancelToken;

/// A token that the next interrupt cancels. Without a handler (one was already installed in
/// this process) the token is returned all the same; it then only cancels on request.
pub fn cancel_on_interrupt() -> CancelToken {
    let token = CancelToken::new();
    let t = token.clone();
    let _ = ctrlc::set_handler(move || {
        if t.is_cancelled() {
            // A second interrupt: the user insists. What is not committed is discarded by
            // the target's own journal on the next run.
            std::process::exit(i32::from(crate::exit::CANCELLED));
        }
        eprintln!("interrupted: stopping and rolling back (interrupt again to quit at once)");
        t.cancel();
    });
    token
}
