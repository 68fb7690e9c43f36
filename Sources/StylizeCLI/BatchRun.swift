import ArgumentParser
import Console
import Distributed
import Foundation
import ImageIO
import SafeFiles

/// A value computed on a background thread.
final class Future<Value>: @unchecked Sendable {
    private var result: Result<Value, Error>?
    private let done = DispatchSemaphore(value: 0)

    init(_ work: @escaping @Sendable () throws -> Value) {
        DispatchQueue.global().async {
            self.result = Result { try work() }
            self.done.signal()
        }
    }

    func value() throws -> Value {
        done.wait()
        done.signal()
        return try result!.get()
    }
}

/// Failures collected from the encode thread and the main loop.
final class FailureLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [(String, String)] = []
    func append(_ path: String, _ reason: String) { lock.lock(); stored.append((path, reason)); lock.unlock() }
    var entries: [(String, String)] { lock.lock(); defer { lock.unlock() }; return stored }
}

/// No image to work on.
struct NoInputImages: Error, CustomStringConvertible {
    let inputs: [String]
    let unsupported: String?
    var description: String {
        "no PNG or JPEG images in \(inputs.joined(separator: ", "))"
            + (unsupported.map { " (skipped \($0): stylize reads PNG and JPEG only)" } ?? "")
    }
}

/// The batch loop every image command shares. Before any work: the plan is checked (no output is an input), the
/// output folder must be writable, stale temporary files of killed runs are removed, outputs of another model are
/// reported. Then: decode the next image while this one computes, encode and write atomically on another thread,
/// record each written file in the folder's manifest, collect per-file failures, show progress (the file being worked
/// on, and tiles or steps inside a long one), print the summary, exit 1 on failures.
struct BatchRun {
    let inputs: [String]
    let output: URL
    let plan: TranslationPlan
    let overwrite: Bool
    let quality: Int
    let quiet: Bool
    /// The model as the manifest records it, and the settings that change its outputs.
    let model: String
    let settings: String
    let start: Date

    func log(_ message: String) { if !quiet { FileHandle.standardError.write(Data((message + "\n").utf8)) } }

    /// Runs `translate` on every pending job. `describe` is printed first with the counts.
    func execute(describe: String, translate: (Image, String, @escaping (Int, Int) -> Void) throws -> Image) throws {
        guard plan.allJobs > 0 || !plan.jobs.isEmpty else { throw NoInputImages(inputs: inputs, unsupported: plan.unsupportedSummary) }
        try Folder.checkWritable(output)
        let sharded = plan.shard.count > 1
        // A shard removes only its own outputs' leftovers (another machine's writers have process ids it cannot check).
        let targets = sharded ? Set(plan.jobs.map { $0.output.lastPathComponent }) : nil
        for folder in Set(plan.jobs.map { $0.output.deletingLastPathComponent().path }) {
            AtomicFile.removeStale(in: URL(fileURLWithPath: folder), targets: targets)
        }
        let manifest = OutputManifest(folder: output)
        if overwrite { try plan.checkOverwrites(manifest: manifest) }
        var pending: [TranslationJob] = []
        var otherModel: [String: Int] = [:]
        for job in plan.jobs {
            if overwrite || !FileManager.default.fileExists(atPath: job.output.path) {
                pending.append(job)
            } else if let record = manifest.records[job.name], record.model != model || record.settings != settings {
                otherModel[record.model == model ? "\(record.model) (\(record.settings))" : record.model, default: 0] += 1
            }
        }
        let skipped = plan.jobs.count - pending.count
        if plan.excluded > 0 { log("excluded \(plan.excluded) file(s) inside the output folder") }
        let shardLabel = sharded ? "shard \(plan.shard) (\(plan.jobs.count) of \(plan.allJobs) files): " : ""
        log("\(shardLabel)\(describe): \(pending.count) to do, \(skipped) already done")

        let progress = BatchProgress(total: pending.count, quiet: quiet)
        let encodeQueue = DispatchQueue(label: "stylize.encode")
        let failures = FailureLog()
        let (model, settings, quality) = (self.model, self.settings, self.quality)
        func decode(_ job: TranslationJob) -> Future<Image> { Future { try Image.read(contentsOf: job.input) } }
        var prefetched = pending.first.map(decode)
        for (index, job) in pending.enumerated() {
            let current = prefetched!
            prefetched = index + 1 < pending.count ? decode(pending[index + 1]) : nil
            progress.begin(index: index, name: job.name)
            do {
                let translated = try translate(try current.value(), job.input.path) { done, total in progress.detail(done: done, total: total) }
                encodeQueue.async {
                    do {
                        try Folder.create(job.output.deletingLastPathComponent())
                        try translated.write(to: job.output, quality: quality, subsampling: .half420)
                        try manifest.append(.init(file: job.name, model: model, settings: settings))
                    } catch {
                        failures.append(job.input.path, "\(error)")
                    }
                }
            } catch {
                failures.append(job.input.path, "\(error)")
            }
            progress.finished(index: index)
        }
        encodeQueue.sync {}
        progress.end()
        let failed = failures.entries
        let seconds = Date().timeIntervalSince(start)
        for (path, reason) in failed {
            let message = reason.contains(path) ? reason : "\(path): \(reason)"
            FileHandle.standardError.write(Data("failed: \(message)\n".utf8))
        }
        print(shardLabel + String(format: "done %d, skipped %d (already there), failed %d, %.1f s (%.3f s per image)",
                                  pending.count - failed.count, skipped, failed.count, seconds, seconds / Double(max(pending.count, 1))))
        // Under mpirun, rank 0 also prints the job's totals.
        if let job = Communicator.joined, job.size > 1 {
            let totals = job.sum([Double(pending.count - failed.count), Double(skipped), Double(failed.count)])
            let slowest = job.maximum([seconds])[0]
            if job.isRoot {
                print(String(format: "all %d ranks: done %.0f, skipped %.0f, failed %.0f, %.1f s", job.size, totals[0], totals[1], totals[2], slowest))
            }
        }
        if let unsupported = plan.unsupportedSummary { print("not read: \(unsupported) (stylize reads PNG and JPEG only)") }
        for (other, count) in otherModel.sorted(by: { $0.key < $1.key }) {
            print("kept \(count) existing output(s) made by \(other), not by \(model) (\(settings)); --overwrite redoes them")
        }
        if !failed.isEmpty { throw ExitCode(1) }
    }
}

/// Progress of a batch on standard error: on a terminal a bar with the count, rate, ETA, the file being worked on and
/// its tiles/steps, fitted to the terminal width; otherwise a line every 10 s (also during a long image).
final class BatchProgress: @unchecked Sendable {
    let total: Int
    let quiet: Bool
    let status: StatusLine
    let start = Date()
    private let lock = NSLock()
    private var lastLine = Date()
    private var completed = 0
    private var name = ""
    private var detailText = ""

    init(total: Int, quiet: Bool) {
        self.total = total
        self.quiet = quiet
        status = StatusLine(enabled: !quiet)
    }

    func begin(index: Int, name: String) {
        lock.lock()
        self.name = name
        detailText = ""
        lock.unlock()
        draw(force: true)
    }

    func detail(done: Int, total: Int) {
        lock.lock()
        detailText = "part \(done)/\(total)"
        lock.unlock()
        draw(force: false)
    }

    func finished(index: Int) {
        lock.lock()
        completed = index + 1
        detailText = ""
        lock.unlock()
        draw(force: completed == total)
    }

    func end() { status.finish() }

    func draw(force: Bool) {
        guard !quiet else { return }
        lock.lock()
        let (completed, name, detailText) = (self.completed, self.name, self.detailText)
        lock.unlock()
        let elapsed = Date().timeIntervalSince(start)
        let rate = Double(completed) / max(elapsed, 1e-6)
        let remaining = completed == 0 ? Double.infinity : Double(total - completed) / max(rate, 1e-9)
        let working = completed < total ? (detailText.isEmpty ? "" : "  \(detailText)") + "  \(name)" : ""
        let text = String(format: "%d/%d  ETA %@  %.2f img/s", completed, total, ProgressClock.format(remaining), rate) + working
        if status.isLive {
            status.show(progressBar(Double(completed) / Double(max(total, 1)), width: 20) + " " + text, throttle: !force)
        } else {
            lock.lock()
            defer { lock.unlock() }
            guard Date().timeIntervalSince(lastLine) >= 10 || (force && completed == total) else { return }
            lastLine = Date()
            FileHandle.standardError.write(Data((text + "\n").utf8))
        }
    }
}
