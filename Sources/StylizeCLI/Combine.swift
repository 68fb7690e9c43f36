import ArgumentParser
import Datasets
import Foundation
import ImageIO

/// `stylize combine`: paired folders into side-by-side A|B images for the `aligned` (pix2pix) mode.
struct Combine: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Combine paired folders A/ and B/ into side-by-side A|B images.",
        discussion: """
        Each image in --a is joined with the image of the same relative path and name (any of .png, .jpg, \
        .jpeg) in --b; both must have the same size. Subfolders are mirrored into OUTPUT. Existing outputs \
        are kept unless --overwrite. Unpaired files and size mismatches are listed; the exit code is 1 if any.
        """
    )

    @Option(help: "Folder of A images (inputs).")
    var a: String

    @Option(help: "Folder of B images (targets).")
    var b: String

    @Argument(help: "Folder for the A|B images (created if missing).")
    var output: String

    @Option(help: "Output format: png or jpg (default: the A file's).")
    var format: String?

    @Flag(help: "Replace existing outputs.")
    var overwrite = false

    func validate() throws {
        if let format, ImageFormat(pathExtension: format) == nil {
            throw ValidationError("--format must be png or jpg, not '\(format)'")
        }
    }

    func run() throws {
        let report: PairCombiner.Report
        do {
            report = try PairCombiner.combine(
                folderA: URL(fileURLWithPath: a), folderB: URL(fileURLWithPath: b), output: URL(fileURLWithPath: output),
                format: format.flatMap(ImageFormat.init(pathExtension:)), overwrite: overwrite)
        } catch {
            throw ValidationError("\(error)")
        }
        for (name, reason) in report.failed { print("failed: \(name): \(reason)") }
        print("combined \(report.written.count), skipped \(report.skipped.count) existing, failed \(report.failed.count)")
        if !report.failed.isEmpty { throw ExitCode(1) }
    }
}
