import ArgumentParser
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
    @Option(help: "Worker threads (default: all cores).") var threads: Int?

    func validate() throws {
        guard paths.count >= 2 else { throw ValidationError("give at least one INPUT and the OUTPUT folder") }
        guard (1...100).contains(quality) else { throw ValidationError("--quality must be between 1 and 100") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    var inputs: [String] { Array(paths.dropLast()) }
    var output: URL { URL(fileURLWithPath: paths.last ?? ".") }

    /// The checked plan (nothing written yet).
    func plan() throws -> TranslationPlan {
        try TranslationPlan.make(inputs: inputs, output: output, recursive: recursive, format: format?.imageFormat)
    }

    func applyThreads() { if let threads { Parallel.setThreadCount(threads) } }

    func log(_ message: String) { if !quiet { FileHandle.standardError.write(Data((message + "\n").utf8)) } }

    /// The batch loop for `plan`, recording `model` and `settings` in the output manifest.
    func batch(plan: TranslationPlan, model: String, settings: String, start: Date) -> BatchRun {
        BatchRun(inputs: inputs, output: output, plan: plan, overwrite: overwrite, quality: quality, quiet: quiet, model: model,
                 settings: settings, start: start)
    }
}
