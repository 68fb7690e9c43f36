import _TestSupport
import Foundation
import ImageIO
import Tensor
import XCTest

/// `stylize [apply]` on temporary folders, run as the built binary.
final class ApplyTests: XCTestCase {
    let images = fixturesDirectory.appendingPathComponent("images")
    let checkpoints = fixturesDirectory.appendingPathComponent("checkpoints")
    var root: URL!

    override func setUpWithError() throws { root = try temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    func stylize(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String, error: String) {
        try StylizeBinary.run(arguments, environment: environment)
    }

    func copy(_ name: String, to relative: String) throws {
        let target = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: images.appendingPathComponent(name), to: target)
    }

    /// The 8-bit images `stylize` writes match PyTorch's (same padding, rounding) within ±1 level.
    func testOutputsMatchPyTorchWithinOneLevel() throws {
        for (checkpoint, reference) in [("resnet9_ngf4.zip.pth", "resnet9_ngf4"), ("resnet9_ngf4.legacy.pth", "resnet9_ngf4"),
                                        ("unet256_ngf2.legacy.pth", "unet256_ngf2")] {
            let output = root.appendingPathComponent("out-\(checkpoint)")
            let result = try stylize(["--model", checkpoints.appendingPathComponent(checkpoint).path,
                                      images.appendingPathComponent("rgb8.png").path, output.path, "--quiet"])
            XCTAssertEqual(result.status, 0, result.error)
            let written = try Image.read(contentsOf: output.appendingPathComponent("rgb8.png"))
            let expected = try Image.read(contentsOf: checkpoints.appendingPathComponent("\(reference).rgb8.expected.png"))
            XCTAssertEqual([written.width, written.height], [37, 23], "the output keeps the input's size")
            let worst = zip(written.samples, expected.samples).map { abs(Int($0) - Int($1)) }.max() ?? 99
            XCTAssertLessThanOrEqual(worst, 1, checkpoint)
        }
    }

    func testFoldersNamesFormatsSkippingFailuresAndExitCode() throws {
        try copy("rgb8.png", to: "in/a.png")
        try copy("baseline420.jpg", to: "in/b.jpg")
        try copy("gray8.png", to: "in/sub/c.png")
        try copy("bad_truncated.png", to: "in/sub/broken.png")
        try copy("photo 2014-08-01 22:38:22.png", to: "in/sub/photo 2014-08-01 22:38:22.png")
        let model = checkpoints.appendingPathComponent("resnet9_ngf4.zip.pth").path
        let output = root.appendingPathComponent("out")
        let first = try stylize(["--model", model, root.appendingPathComponent("in").path, output.path, "--recursive"])
        XCTAssertEqual(first.status, 1, "a broken input makes the exit code 1")
        XCTAssertTrue(first.error.contains("broken.png") && first.error.contains("truncated"), first.error)
        XCTAssertTrue(first.output.contains("done 4") && first.output.contains("failed 1"), first.output)
        for name in ["a.png", "b.jpg", "sub/c.png", "sub/photo 2014-08-01 22:38:22.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: output.appendingPathComponent(name).path), name)
        }
        XCTAssertEqual(try ImageFormat(sniffing: Data(contentsOf: output.appendingPathComponent("b.jpg"))), .jpeg)
        XCTAssertEqual(try Image.read(contentsOf: output.appendingPathComponent("sub/photo 2014-08-01 22:38:22.png")).width, 256)
        XCTAssertEqual(try Image.read(contentsOf: root.appendingPathComponent("in/a.png")),
                       try Image.read(contentsOf: images.appendingPathComponent("rgb8.png")), "inputs are never modified")

        // A rerun skips what exists; --overwrite redoes it; without --recursive only the top level is read.
        let modified = try FileManager.default.attributesOfItem(atPath: output.appendingPathComponent("a.png").path)[.modificationDate] as? Date
        let second = try stylize(["--model", model, root.appendingPathComponent("in").path, output.path, "--recursive", "--quiet"])
        XCTAssertTrue(second.output.contains("skipped 4"), second.output)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: output.appendingPathComponent("a.png").path)[.modificationDate] as? Date, modified)
        let flat = try stylize(["--model", model, root.appendingPathComponent("in").path, root.appendingPathComponent("flat").path,
                                "--format", "jpg", "--quiet"])
        XCTAssertEqual(flat.status, 0, flat.error)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("flat").path).sorted(), ["a.jpg", "b.jpg"])
        let again = try stylize(["--model", model, root.appendingPathComponent("in/a.png").path, output.path, "--overwrite", "--quiet"])
        XCTAssertTrue(again.output.contains("done 1, skipped 0"), again.output)
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: output.path).contains { $0.hasPrefix(".") }, "no temporary files")
    }

    /// Tiles with shared statistics give the untiled result (whole-image statistics below a megapixel).
    func testTiledApplyMatchesUntiled() throws {
        let photo = try Image.read(contentsOf: images.appendingPathComponent("photo 2014-08-01 22:38:22.png"))
        try FileManager.default.createDirectory(at: root.appendingPathComponent("in"), withIntermediateDirectories: true)
        try photo.resized(width: 300, height: 264, filter: .bicubic).write(to: root.appendingPathComponent("in/wide.png"), format: .png)
        let model = checkpoints.appendingPathComponent("resnet9_ngf4.zip.pth").path
        let whole = try stylize(["--model", model, root.appendingPathComponent("in").path, root.appendingPathComponent("whole").path, "--quiet"])
        let tiled = try stylize(["--model", model, root.appendingPathComponent("in").path, root.appendingPathComponent("tiled").path,
                                 "--tile", "64", "--quiet"])
        XCTAssertEqual(whole.status, 0, whole.error)
        XCTAssertEqual(tiled.status, 0, tiled.error)
        let a = try Image.read(contentsOf: root.appendingPathComponent("whole/wide.png"))
        let b = try Image.read(contentsOf: root.appendingPathComponent("tiled/wide.png"))
        XCTAssertEqual([b.width, b.height], [300, 264])
        XCTAssertLessThanOrEqual(zip(a.samples, b.samples).map { abs(Int($0) - Int($1)) }.max() ?? 99, 1)
    }

    func testOutputInsideOrEqualToAnInputFolder() throws {
        try copy("rgb8.png", to: "in/a.png")
        let model = checkpoints.appendingPathComponent("resnet9_ngf4.zip.pth").path
        let inside = root.appendingPathComponent("in/results")
        let first = try stylize(["--model", model, root.appendingPathComponent("in").path, inside.path, "--recursive", "--quiet"])
        XCTAssertEqual(first.status, 0, first.error)
        let second = try stylize(["--model", model, root.appendingPathComponent("in").path, inside.path, "--recursive", "--overwrite"])
        XCTAssertTrue(second.error.contains("excluded 1"), "its own outputs are not inputs: \(second.error)")
        XCTAssertTrue(second.output.contains("done 1"), second.output)
        let same = try stylize(["--model", model, root.appendingPathComponent("in").path, root.appendingPathComponent("in").path])
        XCTAssertNotEqual(same.status, 0)
        XCTAssertTrue(same.error.contains("also an input"), same.error)
    }

    func testModelErrorsAreClear() throws {
        try copy("rgb8.png", to: "in/a.png")
        let input = root.appendingPathComponent("in").path, output = root.appendingPathComponent("out").path
        let missing = try stylize(["--model", "/nowhere/model.pth", input, output])
        XCTAssertTrue(missing.error.contains("/nowhere/model.pth"), missing.error)
        let unknown = try stylize(["--model", "style_picasso", input, output])
        XCTAssertTrue(unknown.error.contains("no model named 'style_picasso'"), unknown.error)
        let malicious = try stylize(["--model", checkpoints.appendingPathComponent("malicious.pth").path, input, output])
        XCTAssertTrue(malicious.error.contains("refusing to load"), malicious.error)
        // Offline (nothing listens on port 1): the message says what to download and where to put it.
        let registry = root.appendingPathComponent("registry")
        try FileManager.default.createDirectory(at: registry, withIntermediateDirectories: true)
        try Data(#"{"models": [{"name": "far", "family": "cyclegan", "architecture": "resnet_9blocks", "ngf": 64, "norm": "instance", "dropout": false, "input_nc": 3, "output_nc": 3, "url": "http://127.0.0.1:1/far.pth"}]}"#.utf8)
            .write(to: registry.appendingPathComponent("registry.json"))
        let offline = try stylize(["--model", "far", input, output],
                                  environment: ["STYLIZE_MODELS_DIR": registry.path, "STYLIZE_CACHE": root.appendingPathComponent("cache").path])
        XCTAssertNotEqual(offline.status, 0)
        XCTAssertTrue(offline.error.contains("http://127.0.0.1:1/far.pth") && offline.error.contains("cyclegan_far.pth"), offline.error)
    }

    func testEvalPrintsPSNRAndSSIM() throws {
        for (name, source) in [("x.png", "rgb8.png"), ("y.png", "rgb8.png")] { try copy(source, to: "reference/\(name)") }
        try copy("palette_trns.png", to: "scored/x.png")
        try copy("rgb8.png", to: "scored/y.png")
        let result = try stylize(["eval", root.appendingPathComponent("reference").path, root.appendingPathComponent("scored").path, "--json"])
        XCTAssertEqual(result.status, 0, result.error)
        let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        let rows = object?["images"] as? [[String: Any]]
        XCTAssertEqual(rows?.first?["psnr"] as? Double ?? 0, 37.04283814138721, accuracy: 1e-6)   // scikit-image's value
        XCTAssertEqual(rows?.first?["ssim"] as? Double ?? 0, 0.9424670208466067, accuracy: 1e-6)
        let text = try stylize(["eval", root.appendingPathComponent("reference").path, root.appendingPathComponent("scored").path])
        XCTAssertTrue(text.output.contains("mean over 2 images"), text.output)
    }

    /// `--low-resolution`: each output is box-downscaled to its input's size and scored against it; an output that
    /// downscales exactly has an infinite consistency PSNR, reported as exact (null in JSON) and left out of the mean.
    func testEvalConsistencyPSNR() throws {
        let random = RandomGenerator(seed: 2)
        let low = Tensor.randomUniform([1, 3, 6, 5], low: -1, high: 1, generator: random)
        let exact = Image(tensor: low.upsampled(height: 12, width: 10, mode: .nearest))
        let blurred = Image(tensor: low.upsampled(height: 12, width: 10, mode: .bilinear))
        for (folder, x, y) in [("truth", exact, exact), ("low", Image(tensor: low), Image(tensor: low)), ("out", exact, blurred)] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
            try x.write(to: root.appendingPathComponent("\(folder)/x.png"))
            try y.write(to: root.appendingPathComponent("\(folder)/y.png"))
        }
        let arguments = ["eval", root.appendingPathComponent("truth").path, root.appendingPathComponent("out").path,
                         "--low-resolution", root.appendingPathComponent("low").path]
        let result = try stylize(arguments + ["--json"])
        XCTAssertEqual(result.status, 0, result.error)
        let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        XCTAssertEqual(object?["exactly_consistent"] as? Int, 1)
        let consistency = try XCTUnwrap(object?["mean_consistency_psnr"] as? Double)
        XCTAssertTrue(consistency.isFinite && consistency > 10 && consistency < 60, "\(consistency)")
        let rows = object?["images"] as? [[String: Any]]
        XCTAssertTrue(rows?.first { $0["name"] as? String == "x" }?["consistency_psnr"] is NSNull)
        let text = try stylize(arguments)
        XCTAssertTrue(text.output.contains("consistency exact") && text.output.contains("1 exact"), text.output)
    }

    func testModelsImportAndList() throws {
        let target = root.appendingPathComponent("imported.safetensors")
        let imported = try stylize(["models", "import", checkpoints.appendingPathComponent("unet256_ngf2.legacy.pth").path, "--output", target.path])
        XCTAssertEqual(imported.status, 0, imported.error)
        XCTAssertTrue(imported.output.contains("unet_256"), imported.output)
        let output = root.appendingPathComponent("out")
        let result = try stylize(["--model", target.path, images.appendingPathComponent("rgb8.png").path, output.path, "--quiet"])
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertEqual(try Image.read(contentsOf: output.appendingPathComponent("rgb8.png")),
                       try Image.read(contentsOf: checkpoints.appendingPathComponent("unet256_ngf2.rgb8.expected.png")))
        let list = try stylize(["models", "list"])
        XCTAssertEqual(list.status, 0, list.error)
        XCTAssertTrue(list.output.contains("cyclegan/style_monet") && list.output.contains("pix2pix/edges2shoes"), list.output)
    }
}
