import _TestSupport
import Foundation
import XCTest

/// Runs the built `stylize` binary.
final class CommandLineTests: XCTestCase {
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String, error: String) {
        try StylizeBinary.run(arguments, environment: environment)
    }

    func testVersionAndHelp() throws {
        let version = try run(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertEqual(version.output.trimmingCharacters(in: .whitespacesAndNewlines), "0.2.0")
        let help = try run(["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.output.contains("bench"))
        let benchHelp = try run(["bench", "--help"])
        XCTAssertTrue(benchHelp.output.contains("--json"))
    }

    func testBenchPrintsOneJSONObject() throws {
        let result = try run(["bench", "--json", "--repeats", "1", "--sizes", "8", "16"])
        XCTAssertEqual(result.status, 0, result.error)
        let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        XCTAssertNotNil(object?["sgemm_gflops"] as? Double)
        XCTAssertNotNil(object?["conv2d_forward_gflops"] as? Double)
        XCTAssertNotNil(object?["conv2d_backward_gflops"] as? Double)
        XCTAssertNotNil(object?["conv2d_forward_gemm_lowering_fraction_of_sgemm"] as? Double)
        XCTAssertEqual(object?["resnet_9blocks_parameters"] as? Int, 11_378_179)
        XCTAssertNotNil((object?["unet_256_forward"] as? [String: Any])?["seconds"] as? Double)
        let sizes = object?["resnet_9blocks_forward"] as? [String: Any]
        XCTAssertNotNil((sizes?["16"] as? [String: Any])?["peak_rss_mb"] as? Double)
    }

    func testCombineBuildsAlignedImagesAndReportsFailures() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let fixtures = fixturesDirectory.appendingPathComponent("images")
        for folder in ["A", "B"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("rgb8.png"), to: root.appendingPathComponent("A/pair.png"))
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("baseline444.jpg"), to: root.appendingPathComponent("B/pair.jpg"))
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("gray8.png"), to: root.appendingPathComponent("A/alone.png"))
        let output = root.appendingPathComponent("AB").path
        let result = try run(["combine", "--a", root.appendingPathComponent("A").path, "--b", root.appendingPathComponent("B").path, output])
        XCTAssertEqual(result.status, 1, "an unpaired file makes the exit code 1")
        XCTAssertTrue(result.output.contains("failed: alone"), result.output)
        XCTAssertTrue(result.output.contains("combined 1"), result.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output + "/pair.png"))
        let missing = try run(["combine", "--a", "/nonexistent/A", "--b", "/nonexistent/B", output])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.error.contains("/nonexistent/A"), missing.error)
        let badFormat = try run(["combine", "--a", "x", "--b", "y", output, "--format", "gif"])
        XCTAssertTrue(badFormat.error.contains("png or jpg"), badFormat.error)
    }

    func testBadArgumentsFailWithAMessage() throws {
        let result = try run(["bench", "--sizes", "7"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.error.contains("multiples of 4"), result.error)
        let unknown = try run(["frobnicate"])
        XCTAssertNotEqual(unknown.status, 0)
    }
}
