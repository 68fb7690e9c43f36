import Foundation

/// Ctrl-C (SIGINT) and SIGTERM during training: the first asks the run to finish its iteration, save its state and
/// stop; a second one ends the process at once (the state on disk is then the last one saved, and atomic writes
/// mean no file is left half-written).
public final class StopSignals: @unchecked Sendable {
    /// The process-wide monitor (signal dispositions are per process).
    public static let shared = StopSignals()

    private let lock = NSLock()
    private var received: Int32?
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "stylize.signals")

    /// The first signal received since ``install()``, if any.
    public var requested: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    /// Starts catching SIGINT and SIGTERM (idempotent).
    public func install() {
        lock.lock()
        defer { lock.unlock() }
        guard sources.isEmpty else { return }
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [weak self] in self?.handle(number) }
            source.resume()
            sources.append(source)
        }
    }

    func handle(_ number: Int32) {
        lock.lock()
        let first = received == nil
        if first { received = number }
        lock.unlock()
        let name = number == SIGINT ? "Ctrl-C" : "SIGTERM"
        if first {
            let again = number == SIGINT ? "Ctrl-C again" : "a second signal"
            let message = "\n\(name): finishing this iteration, then saving the state and stopping (\(again) stops at once)\n"
            FileHandle.standardError.write(Data(message.utf8))
        } else {
            FileHandle.standardError.write(Data("\n\(name) again: stopped at once; the state on disk is the last one saved\n".utf8))
            _exit(128 + number)
        }
    }
}
