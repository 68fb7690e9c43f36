import Foundation

/// Process-level tuning that must happen before any work starts.
public enum ProcessSetup {
    /// The OpenBLAS thread timeout this tool runs with (log2 of the cycles an idle OpenBLAS worker spins).
    public static let openBLASThreadTimeout = "20"

    /// Makes sure OpenBLAS runs with a short spin-wait, re-executing the process once if needed.
    ///
    /// After each GEMM, OpenBLAS's worker threads spin for 2^28 cycles (about 0.1 s) by default before they sleep.
    /// The engine's own kernels run between GEMMs on the same cores, so on a small machine the spinning workers take
    /// a core from them: a CycleGAN training step at 256² is about 15 % slower. OpenBLAS reads
    /// `OPENBLAS_THREAD_TIMEOUT` only when it loads, before `main`; so when it is unset, this sets it to
    /// ``openBLASThreadTimeout`` and executes the same program again with the same arguments. A value the user set
    /// is kept; `STYLIZE_NO_REEXEC=1` disables the re-execution. If the re-execution fails, the run continues as is.
    public static func tuneOpenBLAS() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_THREAD_TIMEOUT"] == nil, environment["GOTO_THREAD_TIMEOUT"] == nil,
              environment["STYLIZE_NO_REEXEC"] == nil else { return }
        setenv("OPENBLAS_THREAD_TIMEOUT", openBLASThreadTimeout, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Only reached if exec failed: carry on with the default spin-wait.
    }
}
