import ArgumentParser
import Distributed
import Foundation
import ImageIO
import Tensor

/// An output image format (`--format`): the input's by default.
enum OutputFormat: String, CaseIterable, ExpressibleByArgument {
    case png, jpg

    var imageFormat: ImageFormat { self == .png ? .png : .jpeg }
}

/// The batch options every image command shares (`apply`, `upscale`, `colorize`): inputs and output, which files,
/// how outputs are written, feedback and threads.
struct BatchArguments: ParsableArguments {
    @Argument(help: "Images and/or folders, then the output folder.") var paths: [String] = []
    @Flag(help: "Descend into subfolders of input folders and mirror them in OUTPUT.") var recursive = false
    @Option(help: "Output format (default: each input's).") var format: OutputFormat?
    @Option(help: "JPEG quality, 1–100.") var quality = 95
    @Flag(help: "Replace existing outputs (never an original: an output that is an input is refused).") var overwrite = false
    @Flag(help: "No progress output (the summary and errors are still printed).") var quiet = false
    @Option(help: "Worker threads (default: all cores; under mpirun, the cores shared among the machine's ranks).") var threads: Int?
    @Option(help: ArgumentHelp("Work on part I of N of the inputs only (every N-th file from the I-th, in the listing's order), for spreading a big folder over machines; rerunning a part redoes only its missing outputs. Under mpirun the default is the rank's part.", valueName: "I/N"))
    var shard: String?

    func validate() throws {
        guard paths.count >= 2 else { throw ValidationError("give at least one INPUT and the OUTPUT folder") }
        guard (1...100).contains(quality) else { throw ValidationError("--quality must be between 1 and 100") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let shard, Shard(parsing: shard) == nil { throw ValidationError("--shard takes I/N with 1 ≤ I ≤ N, such as 2/4 (got \(shard))") }
    }

    /// The part of the inputs this process works on: `--shard`, else the rank's under mpirun, else all.
    func part() throws -> Shard {
        if let shard, let parsed = Shard(parsing: shard) { return parsed }
        if let job = try Communicator.world(), job.size > 1 { return Shard(index: job.rank, count: job.size) }
        return .all
    }

    var inputs: [String] { Array(paths.dropLast()) }
    var output: URL { URL(fileURLWithPath: paths.last ?? ".") }

    /// The checked plan (nothing written yet).
    func plan() throws -> TranslationPlan {
        var plan = try TranslationPlan.make(inputs: inputs, output: output, recursive: recursive, format: format?.imageFormat)
        plan.restrict(to: try part())
        return plan
    }

    func applyThreads() {
        if let count = threads ?? Communicator.threadsPerProcess() { Parallel.setThreadCount(count) }
    }

    func log(_ message: String) { if !quiet { FileHandle.standardError.write(Data((message + "\n").utf8)) } }

    /// The batch loop for `plan`, recording `model` and `settings` in the output manifest.
    func batch(plan: TranslationPlan, model: String, settings: String, start: Date) -> BatchRun {
        BatchRun(inputs: inputs, output: output, plan: plan, overwrite: overwrite, quality: quality, quiet: quiet, model: model,
                 settings: settings, start: start)
    }
}
