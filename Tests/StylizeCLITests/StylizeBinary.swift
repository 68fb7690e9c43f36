import _TestSupport
import Foundation

/// Runs the built `stylize` executable and captures its exit status and output.
enum StylizeBinary {
    /// The binary built with these tests (same build folder and configuration). There is deliberately no fallback to
    /// another build: a stale binary would test old code.
    static var binary: URL {
        let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
            + Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent() }
        for directory in candidates {
            let url = directory.appendingPathComponent("stylize")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        preconditionFailure("no stylize binary beside the test bundle (\(candidates.map(\.path))); build with `swift build --build-tests`")
    }

    /// Runs the binary with `arguments`, or, with a `launcher` (such as mpirun and its options), the launcher with the
    /// binary's path and `arguments` after its own.
    static func run(_ arguments: [String], environment: [String: String] = [:],
                    launcher: (executable: URL, arguments: [String])? = nil) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = launcher?.executable ?? binary
        process.arguments = launcher.map { $0.arguments + [binary.path] + arguments } ?? arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), String(decoding: errorData, as: UTF8.self))
    }
}
