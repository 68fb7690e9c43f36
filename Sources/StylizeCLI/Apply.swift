import ArgumentParser
import Foundation
import ImageIO
import Models
import Tensor

/// `stylize [apply] --model NAME|PATH INPUT... OUTPUT`: translate images with a generator.
struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Translate images with a generator (the default command).",
        discussion: """
        INPUT... are images and/or folders; OUTPUT is a folder. Each input gives one output with the same base \
        name, in the same format unless --format, at the same size: images are padded (reflection) to what the \
        generator needs and cropped back, not resized, unless --size. Large photos run in tiles (--tile) with \
        instance-norm statistics shared across the image, so memory stays bounded and tiles do not show seams. Existing outputs are skipped unless \
        --overwrite, so an interrupted run resumes; outputs are written atomically; inputs are never modified. \
        The exit code is 1 if any input failed (the others are still processed).

        Examples:
          stylize --model style_monet photos/ out/
          stylize --model checkpoints/mine/latest_net_G.safetensors --recursive archive/ out/ --format jpg --quality 92
        """
    )

    @Option(help: "A registry name (see `stylize models list`) or a .pth/.safetensors file.")
    var model: String

    @Argument(help: "Images and/or folders, then the output folder.")
    var paths: [String]

    @Flag(help: "Descend into subfolders of input folders and mirror them in OUTPUT.")
    var recursive = false

    @Option(help: "Output format: png or jpg (default: each input's).")
    var format: String?

    @Option(help: "JPEG quality, 1–100.")
    var quality = 95

    @Option(help: "Resize so the short side is N pixels first (faster on large photos).")
    var size: Int?

    @Option(help: "Refuse images with more pixels than this (after --size), to bound memory.")
    var maxPixels = 16_777_216

    @Option(help: "Tile side for large images (ResNet generators; each tile also carries 96 pixels of context per side).")
    var tile = 768

    @Option(help: "Generator architecture, when a checkpoint's cannot be detected: resnet_6blocks, resnet_9blocks, unet_128, unet_256.")
    var arch: String?

    @Flag(help: "Replace existing outputs.")
    var overwrite = false

    @Flag(help: "No progress output (the summary and errors are still printed).")
    var quiet = false

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        guard paths.count >= 2 else { throw ValidationError("give at least one INPUT and the OUTPUT folder") }
        if let format, ImageFormat(pathExtension: format) == nil { throw ValidationError("--format must be png or jpg, not '\(format)'") }
        guard (1...100).contains(quality) else { throw ValidationError("--quality must be between 1 and 100") }
        if let size, size < 8 { throw ValidationError("--size must be at least 8") }
        guard maxPixels > 0 else { throw ValidationError("--max-pixels must be positive") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard tile >= 64 && tile % 4 == 0 else { throw ValidationError("--tile must be a multiple of 4, at least 64") }
    }

    func run() throws {
        if let threads { Parallel.setThreadCount(threads) }
        let start = Date()
        let output = URL(fileURLWithPath: paths.last!)
        let log: (String) -> Void = { message in if !quiet { FileHandle.standardError.write(Data((message + "\n").utf8)) } }
        let plan: (jobs: [TranslationJob], excluded: Int)
        let generator: LoadedGenerator
        do {
            plan = try TranslationPlan.jobs(inputs: Array(paths.dropLast()), output: output, recursive: recursive,
                                            format: format.flatMap(ImageFormat.init(pathExtension:)))
            generator = try ModelResolution.load(model, architecture: arch, log: log)
        } catch {
            throw ValidationError("\(error)")
        }
        if plan.excluded > 0 { log("excluded \(plan.excluded) file(s) inside the output folder") }
        let pending = plan.jobs.filter { overwrite || !FileManager.default.fileExists(atPath: $0.output.path) }
        let skipped = plan.jobs.count - pending.count
        log("\(generator.architecture.name) (ngf \(generator.architecture.filters)): \(pending.count) to translate, \(skipped) already done")

        let translator = ImageTranslator(generator: generator, shortSide: size, maximumPixels: maxPixels,
                                         tiling: TiledInference(tile: tile, margin: 96))
        try BatchRun.run(pending: pending, skipped: skipped, quality: quality, quiet: quiet, start: start) { image, path in
            try translator.translate(image, path: path)
        }
    }
}

/// A value computed on a background thread.
final class Future<Value>: @unchecked Sendable {
    private var result: Result<Value, Error>?
    private let done = DispatchSemaphore(value: 0)

    init(_ work: @escaping () throws -> Value) {
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

/// The batch loop every image command shares: decode the next image while this one computes, encode and write
/// atomically on another thread, collect per-file failures, show progress, print the summary, exit 1 on failures.
enum BatchRun {
    static func run(pending: [TranslationJob], skipped: Int, quality: Int, quiet: Bool, start: Date,
                    translate: (Image, String) throws -> Image) throws {
        let progress = ProgressReporter(total: pending.count, quiet: quiet)
        let encodeQueue = DispatchQueue(label: "stylize.encode")
        let failures = FailureLog()
        func decode(_ job: TranslationJob) -> Future<Image> { Future { try Image.read(contentsOf: job.input) } }
        var prefetched = pending.first.map(decode)
        for (index, job) in pending.enumerated() {
            let current = prefetched!
            prefetched = index + 1 < pending.count ? decode(pending[index + 1]) : nil
            do {
                let translated = try translate(try current.value(), job.input.path)
                encodeQueue.async {
                    do {
                        try FileManager.default.createDirectory(at: job.output.deletingLastPathComponent(), withIntermediateDirectories: true)
                        try translated.write(to: job.output, quality: quality, subsampling: .half420)
                    } catch {
                        failures.append(job.input.path, "\(error)")
                    }
                }
            } catch {
                failures.append(job.input.path, "\(error)")
            }
            progress.advance(job.name)
        }
        encodeQueue.sync {}
        let failed = failures.entries
        let seconds = Date().timeIntervalSince(start)
        for (path, reason) in failed {
            let message = reason.contains(path) ? reason : "\(path): \(reason)"
            FileHandle.standardError.write(Data("failed: \(message)\n".utf8))
        }
        print(String(format: "done %d, skipped %d (already there), failed %d, %.1f s (%.3f s per image)", pending.count - failed.count,
                     skipped, failed.count, seconds, seconds / Double(max(pending.count, 1))))
        if !failed.isEmpty { throw ExitCode(1) }
    }
}
