import _TestSupport
import Foundation
import ImageIO
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

    /// `bench --json` is one JSON object whose every figure is plausible: rates within 10× of this machine's sgemm either
    /// way, times and memory in sane ranges.
    /// (The backward figure once came out at 161 million GFLOP/s: it timed backward() on an already freed graph.)
    /// `stylize upscale --model DIR` runs a diffusers LDM super-resolution folder (the tiny fixture): outputs 4× the input
    /// size after the resize to multiples of 32, seeded; a wide input runs in tiles; an input above --max-pixels fails alone.
    func testUpscaleWithADiffusersFolder() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let inputs = root.appendingPathComponent("in")
        try SmoothImages.write(count: 2, to: inputs, width: 40, height: 33, seed: 3)
        try SmoothImages.write(count: 1, to: inputs, width: 300, height: 40, seed: 4, prefix: "wide")
        let model = fixturesDirectory.appendingPathComponent("ldm_sr_tiny").path
        let run = try StylizeBinary.run(["upscale", "--model", model, inputs.path, root.appendingPathComponent("a").path, "--steps", "2", "--quiet"])
        XCTAssertEqual(run.status, 0, run.error)
        XCTAssertTrue(run.output.contains("done 3"), run.output)
        let wide = try Image.read(contentsOf: root.appendingPathComponent("a/wide0.png"))
        XCTAssertEqual([wide.width, wide.height], [1152, 128], "300×40 → 288×32 → ×4, in tiles of 256 output pixels")
        let limited = try StylizeBinary.run(["upscale", "--model", model, inputs.path, root.appendingPathComponent("c").path, "--steps", "1",
                                             "--quiet", "--max-pixels", "20000"])
        XCTAssertEqual(limited.status, 1)
        XCTAssertTrue(limited.error.contains("above --max-pixels 20000"), limited.error)
        let output = try Image.read(contentsOf: root.appendingPathComponent("a/0.png"))
        XCTAssertEqual([output.width, output.height], [128, 128], "40×33 → 32×32 (Lanczos) → ×4")
        let again = try StylizeBinary.run(["upscale", "--model", model, inputs.appendingPathComponent("0.png").path,
                                           root.appendingPathComponent("b").path, "--steps", "2", "--quiet"])
        XCTAssertEqual(again.status, 0, again.error)
        XCTAssertEqual(try Data(contentsOf: root.appendingPathComponent("a/0.png")), try Data(contentsOf: root.appendingPathComponent("b/0.png")),
                       "seeded: the same output")
    }

    /// `models import DIR`: a diffusers folder of old `.bin` files becomes a folder of safetensors under current key names
    /// that loads and upscales like the original; a non-empty output folder is refused.
    func testImportingADiffusersFolder() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let source = fixturesDirectory.appendingPathComponent("ldm_sr_tiny_bin")
        let target = root.appendingPathComponent("imported")
        let run = try StylizeBinary.run(["models", "import", source.path, "--output", target.path])
        XCTAssertEqual(run.status, 0, run.error)
        XCTAssertTrue(run.output.contains("LDM super-resolution ×4"), run.output)
        for file in ["unet/diffusion_pytorch_model.safetensors", "vqvae/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: target.appendingPathComponent(file).path), file)
        }
        let inputs = root.appendingPathComponent("in")
        try SmoothImages.write(count: 1, to: inputs, width: 32, height: 32, seed: 9)
        for (model, output) in [(source, "a"), (target, "b")] {
            let upscaled = try StylizeBinary.run(["upscale", "--model", model.path, inputs.path, root.appendingPathComponent(output).path,
                                                  "--steps", "2", "--quiet"])
            XCTAssertEqual(upscaled.status, 0, upscaled.error)
        }
        XCTAssertEqual(try Data(contentsOf: root.appendingPathComponent("a/0.png")), try Data(contentsOf: root.appendingPathComponent("b/0.png")))
        let again = try StylizeBinary.run(["models", "import", source.path, "--output", target.path])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.error.contains("exists and is not empty"), again.error)
    }

    func testBenchPrintsOneJSONObjectOfPlausibleFigures() throws {
        let result = try run(["bench", "--json", "--repeats", "2", "--sizes", "8", "16", "--suites", "engine"])
        XCTAssertEqual(result.status, 0, result.error)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let sgemm = try XCTUnwrap(object["sgemm_gflops"] as? Double)
        XCTAssertTrue((1...5000).contains(sgemm), "sgemm \(sgemm) GFLOP/s")
        // Short timings on a shared machine vary by 2× or more, so the bounds are wide: Winograd saves at most 2.25×, the
        // GEMM lowerings cannot beat sgemm by much, and a figure 10× off either way is a broken measurement.
        for key in ["conv2d_forward_gflops", "conv2d_backward_gflops", "conv2d_forward_gemm_lowering_gflops", "conv2d_backward_gemm_lowering_gflops"] {
            let rate = try XCTUnwrap(object[key] as? Double, key)
            XCTAssertTrue((0.05...10).contains(rate / sgemm), "\(key) \(rate) GFLOP/s against sgemm \(sgemm)")
        }
        XCTAssertEqual(object["resnet_9blocks_parameters"] as? Int, 11_378_179)
        let unet = try XCTUnwrap(object["unet_256_forward"] as? [String: Any])
        XCTAssertTrue((0.001...60).contains(unet["seconds"] as? Double ?? -1), "\(unet)")
        let sizes = try XCTUnwrap(object["resnet_9blocks_forward"] as? [String: Any])
        for size in ["8", "16"] {
            let figures = try XCTUnwrap(sizes[size] as? [String: Any], size)
            XCTAssertTrue((0.0001...60).contains(figures["seconds"] as? Double ?? -1), "\(figures)")
            XCTAssertTrue((10...4000).contains(figures["peak_rss_mb"] as? Double ?? -1), "\(figures)")
        }
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
        let result = try run(["combine", "--folder-a", root.appendingPathComponent("A").path, "--folder-b", root.appendingPathComponent("B").path, output])
        XCTAssertEqual(result.status, 1, "an unpaired file makes the exit code 1")
        XCTAssertTrue(result.output.contains("failed: alone"), result.output)
        XCTAssertTrue(result.output.contains("combined 1"), result.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output + "/pair.png"))
        let missing = try run(["combine", "--a", "/nonexistent/A", "--b", "/nonexistent/B", output])   // the old spelling still works
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.error.contains("/nonexistent/A"), missing.error)
        let badFormat = try run(["combine", "--a", "x", "--b", "y", output, "--format", "gif"])
        XCTAssertEqual(badFormat.status, 64)
        XCTAssertTrue(badFormat.error.contains("'png' and 'jpg'"), badFormat.error)
    }

    func testBadArgumentsFailWithAMessage() throws {
        let result = try run(["bench", "--sizes", "7"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.error.contains("multiples of 4"), result.error)
        let unknown = try run(["frobnicate"])
        XCTAssertNotEqual(unknown.status, 0)
    }
}
