import ArgumentParser
import Datasets
import Foundation
import ImageIO

/// `stylize combine`: paired folders into side-by-side A|B images for the `aligned` (pix2pix) mode.
struct Combine: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Combine paired folders A/ and B/ into side-by-side A|B images.",
        discussion: """
        Each image in --folder-a is joined with the image of the same relative path and name (any of .png, .jpg, \
        .jpeg) in --folder-b; both must have the same size. Subfolders are mirrored into OUTPUT. Existing outputs \
        are kept unless --overwrite. Unpaired files and size mismatches are listed; the exit code is 1 if any.
        """
    )

    @Option(help: "Folder of A images (inputs).") var folderA: String?
    @Option(name: .customLong("a"), help: .hidden) var folderAAlias: String?
    @Option(help: "Folder of B images (targets).") var folderB: String?
    @Option(name: .customLong("b"), help: .hidden) var folderBAlias: String?

    @Argument(help: "Folder for the A|B images (created if missing).")
    var output: String

    @Option(help: "Output format (default: the A file's).") var format: OutputFormat?

    @Flag(help: "Replace existing outputs.")
    var overwrite = false

    func validate() throws {
        guard folderA ?? folderAAlias != nil, folderB ?? folderBAlias != nil else { throw ValidationError("give --folder-a and --folder-b") }
    }

    func run() throws {
        let report: PairCombiner.Report
        report = try PairCombiner.combine(
            folderA: URL(fileURLWithPath: folderA ?? folderAAlias ?? ""), folderB: URL(fileURLWithPath: folderB ?? folderBAlias ?? ""),
            output: URL(fileURLWithPath: output), format: format?.imageFormat, overwrite: overwrite)
        for (name, reason) in report.failed { print("failed: \(name): \(reason)") }
        print("combined \(report.written.count), skipped \(report.skipped.count) existing, failed \(report.failed.count)")
        if !report.failed.isEmpty { throw ExitCode(1) }
    }
}
