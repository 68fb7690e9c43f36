import Foundation

/// Whole-file writes that never leave half a file: the bytes go to a temporary file in the same folder, are
/// flushed to the disk, then renamed over the target in one step.
///
/// The temporary file is named `.<name>.stylize-partial-<pid>-<n>`, so one left by a killed process is
/// recognisable; ``removeStale(in:)`` deletes those whose process is gone.
public enum AtomicFile {
    /// What every temporary file's name contains.
    public static let partialMarker = ".stylize-partial-"

    private static let counter = Counter()

    /// The temporary file a write to `url` goes through.
    public static func temporaryURL(for url: URL) -> URL {
        url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent)\(partialMarker)\(getpid())-\(counter.next())")
    }

    /// Writes `data` to `url` atomically.
    ///
    /// - Throws: ``FileProblem`` naming `url` (permission, full disk, a file where a folder should be, …); the
    ///   temporary file is removed and an existing file at `url` is left as it was.
    public static func write(_ data: Data, to url: URL) throws {
        let temporary = temporaryURL(for: url)
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileProblem(path: url.path, errno: errno) }
        var failure: Int32 = 0
        data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += written
            }
        }
        if failure == 0, fsync(descriptor) != 0, errno != EINVAL { failure = errno }
        if close(descriptor) != 0, failure == 0 { failure = errno }
        if failure == 0, rename(temporary.path, url.path) != 0 { failure = errno }
        if failure != 0 {
            unlink(temporary.path)
            throw FileProblem(path: url.path, errno: failure)
        }
    }

    /// Whether `name` is a temporary file of ``write(_:to:)``, and the process that made it.
    static func owner(ofPartial name: String) -> pid_t? {
        guard name.hasPrefix("."), let range = name.range(of: partialMarker) else { return nil }
        let tail = name[range.upperBound...]
        return tail.split(separator: "-").first.flatMap { pid_t($0) }
    }

    /// Deletes temporary files in `folder` (not below it) that a killed process left; files of running processes
    /// are kept. With `foundationTemporaries`, also Foundation's own `.dat.nosync…` leftovers (from writes made
    /// before this scheme), for folders only this tool writes into. Returns the names removed.
    @discardableResult
    /// With `targets`, only the temporaries of those file names are considered (a shard of a batch job touches only
    /// its own outputs' leftovers: another machine's writer has a process id this one cannot check).
    public static func removeStale(in folder: URL, foundationTemporaries: Bool = false, targets: Set<String>? = nil) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        var removed: [String] = []
        for name in names {
            var stale = false
            if let targets {
                guard let range = name.range(of: partialMarker), name.hasPrefix("."),
                      targets.contains(String(name[name.index(after: name.startIndex)..<range.lowerBound])) else { continue }
            }
            if let pid = owner(ofPartial: name) {
                stale = pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
            } else if foundationTemporaries && name.hasPrefix(".dat.nosync") {
                stale = true
            }
            if stale, unlink(folder.appendingPathComponent(name).path) == 0 { removed.append(name) }
        }
        return removed
    }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
    }
}
