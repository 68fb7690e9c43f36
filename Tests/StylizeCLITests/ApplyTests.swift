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
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("flat").path).sorted(),
                       [".stylize-outputs.jsonl", "a.jpg", "b.jpg"])
        let again = try stylize(["--model", model, root.appendingPathComponent("in/a.png").path, output.path, "--overwrite", "--quiet"])
        XCTAssertTrue(again.output.contains("done 1, skipped 0"), again.output)
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: output.path).contains { $0.hasPrefix(".") && $0 != ".stylize-outputs.jsonl" },
                       "no temporary files")
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
        XCTAssertEqual(same.status, 1)
        XCTAssertTrue(same.error.contains("is the input folder"), same.error)
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

    /// `--low-resolution`: each output is downscaled to its input's size with PIL's bicubic filter and scored against
    /// it; an output that downscales exactly (a flat image) has an infinite consistency PSNR, reported as exact (null
    /// in JSON) and left out of the mean. Sharpness and colourfulness ratios to the reference are reported.
    func testEvalConsistencyPSNRAndRatios() throws {
        let random = RandomGenerator(seed: 2)
        let flatLow = Image(width: 5, height: 6, channels: 3, samples: [UInt16](repeating: 120, count: 90))
        let flatHigh = Image(width: 10, height: 12, channels: 3, samples: [UInt16](repeating: 120, count: 360))
        let low = Image(tensor: Tensor.randomUniform([1, 3, 6, 5], low: -1, high: 1, generator: random))
        let blurred = low.resized(width: 10, height: 12, filter: .bilinear)
        let truth = low.resized(width: 10, height: 12, filter: .bicubic)
        for (folder, x, y) in [("truth", flatHigh, truth), ("low", flatLow, low), ("out", flatHigh, blurred)] {
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
        let rows = try XCTUnwrap(object?["images"] as? [[String: Any]])
        XCTAssertTrue(rows.first { $0["name"] as? String == "x" }?["consistency_psnr"] is NSNull)
        let y = try XCTUnwrap(rows.first { $0["name"] as? String == "y" })
        let ratio = try XCTUnwrap(y["sharpness_ratio"] as? Double)
        XCTAssertEqual(ratio, ImageMetrics.sharpness(blurred) / ImageMetrics.sharpness(truth), accuracy: 1e-9)
        XCTAssertLessThan(ratio, 1, "bilinear is softer than bicubic")
        XCTAssertEqual(try XCTUnwrap(y["colorfulness_ratio"] as? Double),
                       ImageMetrics.colorfulness(blurred) / ImageMetrics.colorfulness(truth), accuracy: 1e-9)
        let text = try stylize(arguments)
        XCTAssertTrue(text.output.contains("consistency exact") && text.output.contains("1 exact") && text.output.contains("sharpness ratio"),
                      text.output)
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
    func bytes(_ relative: String) throws -> Data { try Data(contentsOf: root.appendingPathComponent(relative)) }

    /// The issue's reproductions: an output folder that is an input folder through a link (on either side), a single
    /// file whose output would be itself, colorize the same way, and a nested output folder holding a user's photo
    /// with --overwrite. Each is refused before any work, and the originals keep their bytes.
    func testOriginalsAreNeverReplacedThroughLinksOrNesting() throws {
        try copy("rgb8.png", to: "same2/photo.png")
        try copy("gray8.png", to: "same2/other.png")
        let link = root.appendingPathComponent("same2_link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: root.appendingPathComponent("same2"))
        let original = try bytes("same2/photo.png")
        let model = checkpoints.appendingPathComponent("resnet9_ngf4.zip.pth").path
        let same2 = root.appendingPathComponent("same2").path
        let cases: [[String]] = [
            ["--model", model, same2, link.path, "--overwrite"],
            ["--model", model, same2, link.path],
            ["--model", model, link.path, same2, "--overwrite"],
            ["--model", model, same2 + "/photo.png", link.path, "--overwrite"],
            ["--model", model, link.path + "/../same2/photo.png", same2, "--overwrite"],
            ["colorize", same2, link.path, "--overwrite", "--steps", "1"],
        ]
        for arguments in cases {
            let result = try stylize(arguments)
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.output)")
            XCTAssertTrue(result.error.contains("your originals are never replaced"), result.error)
            XCTAssertEqual(try bytes("same2/photo.png"), original, "\(arguments)")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: same2).sorted(), ["other.png", "photo.png"], "nothing written")
        }
        // rec/ → rec/a/b/ recursively: rec/photo.png's output would replace the user's rec/a/b/photo.png.
        try copy("rgb8.png", to: "rec/photo.png")
        try copy("gray8.png", to: "rec/a/b/photo.png")
        let userPhoto = try bytes("rec/a/b/photo.png")
        let nested = try stylize(["--model", model, root.appendingPathComponent("rec").path, root.appendingPathComponent("rec/a/b").path,
                                  "--recursive", "--overwrite"])
        XCTAssertEqual(nested.status, 1)
        XCTAssertTrue(nested.error.contains("was not written by stylize") && nested.error.contains("rec/a/b/photo.png"), nested.error)
        XCTAssertEqual(try bytes("rec/a/b/photo.png"), userPhoto)
    }

    /// The output folder's manifest: outputs of another model are kept but reported; unreadable formats are counted in
    /// the summary; --overwrite replaces stylize's own outputs inside an input folder.
    func testManifestModelChangesAndUnreadableFormats() throws {
        try copy("rgb8.png", to: "in/a.png")
        try copy("baseline420.jpg", to: "in/b.jpg")
        try Data(count: 10).write(to: root.appendingPathComponent("in/c.webp"))
        try Data(count: 10).write(to: root.appendingPathComponent("in/d.TIF"))
        let input = root.appendingPathComponent("in").path, output = root.appendingPathComponent("out").path
        let first = try stylize(["--model", checkpoints.appendingPathComponent("resnet9_ngf4.zip.pth").path, input, output, "--quiet"])
        XCTAssertEqual(first.status, 0, first.error)
        XCTAssertTrue(first.output.contains("not read: 1 .tif, 1 .webp (stylize reads PNG and JPEG only)"), first.output)
        let manifest = try String(contentsOf: root.appendingPathComponent("out/.stylize-outputs.jsonl"), encoding: .utf8)
        XCTAssertEqual(manifest.split(separator: "\n").count, 2)
        XCTAssertTrue(manifest.contains("resnet9_ngf4.zip.pth"), manifest)
        let other = checkpoints.appendingPathComponent("resnet9_ngf4.legacy.pth").path
        let second = try stylize(["--model", other, input, output, "--quiet"])
        XCTAssertEqual(second.status, 0, second.error)
        XCTAssertTrue(second.output.contains("skipped 2") && second.output.contains("kept 2 existing output(s) made by")
                      && second.output.contains("--overwrite redoes them"), second.output)
        let redo = try stylize(["--model", other, input, output, "--quiet", "--overwrite"])
        XCTAssertTrue(redo.output.contains("done 2"), redo.output)
        XCTAssertTrue(try String(contentsOf: root.appendingPathComponent("out/.stylize-outputs.jsonl"), encoding: .utf8).contains("legacy"))
    }

    /// Output problems are found before any image is processed, in plain words.
    func testOutputProblemsSurfaceBeforeWork() throws {
        try copy("rgb8.png", to: "in/a.png")
        let blocker = root.appendingPathComponent("blocker")
        try Data([1]).write(to: blocker)
        let model = checkpoints.appendingPathComponent("resnet9_ngf4.zip.pth").path
        let under = try stylize(["--model", model, root.appendingPathComponent("in").path, blocker.appendingPathComponent("out").path])
        XCTAssertEqual(under.status, 1)
        XCTAssertTrue(under.error.contains("\(blocker.path) is a file, not a folder") && !under.error.contains("NSCocoaErrorDomain"), under.error)
        XCTAssertFalse(under.error.contains("to do"), "no work started: \(under.error)")
        let file = try stylize(["--model", model, root.appendingPathComponent("in").path, blocker.path])
        XCTAssertTrue(file.error.contains("the output must be a folder"), file.error)
        XCTAssertEqual(try Data(contentsOf: blocker), Data([1]))
    }

    /// One error format ("Error: …"), exit code 64 only for usage errors, suggestions for typos, every bundled model
    /// listed and usable by name.
    func testErrorsExitCodesAndDiscoverability() throws {
        try copy("rgb8.png", to: "in/a.png")
        let input = root.appendingPathComponent("in").path
        let typo = try stylize(["colourise", input, root.appendingPathComponent("o").path])
        XCTAssertEqual(typo.status, 64)
        XCTAssertTrue(typo.error.contains("unknown command 'colourise'; did you mean 'colorize'?"), typo.error)
        let misspelt = try stylize(["--model", "photo2monnet", input, root.appendingPathComponent("o").path])
        XCTAssertEqual(misspelt.status, 1)
        XCTAssertTrue(misspelt.error.hasPrefix("Error: no model named 'photo2monnet'; did you mean photo2monet?"), misspelt.error)
        XCTAssertFalse(misspelt.error.contains("Usage:"), "a runtime failure is not a usage error")
        let empty = root.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let nothing = try stylize(["--model", "photo2monet", empty.path, root.appendingPathComponent("o").path])
        XCTAssertEqual(nothing.status, 1)
        XCTAssertTrue(nothing.error.hasPrefix("Error: no PNG or JPEG images in"), nothing.error)
        let noModel = try stylize([input, root.appendingPathComponent("o").path])
        XCTAssertEqual(noModel.status, 64)
        XCTAssertTrue(noModel.error.contains("give --model"), noModel.error)

        let list = try stylize(["models", "list"])
        for name in ["stylize/photo2monet", "stylize/upscale_x4", "stylize/colorize"] { XCTAssertTrue(list.output.contains(name), list.output) }
        let help = try stylize(["--help"])
        XCTAssertTrue(help.output.contains("Examples:") && help.output.contains("Bundled models: photo2monet"), help.output)
        let wrongKind = try stylize(["--model", "colorize", input, root.appendingPathComponent("o").path])
        XCTAssertTrue(wrongKind.error.contains("run it with `stylize colorize --model colorize"), wrongKind.error)
        let named = try stylize(["upscale", "--model", "upscale_x4", input, root.appendingPathComponent("up").path, "--steps", "1", "--quiet"])
        XCTAssertEqual(named.status, 0, named.error)
        XCTAssertEqual(try Image.read(contentsOf: root.appendingPathComponent("up/a.png")).width, 37 * 4)
    }

    /// tools/install.sh puts the binary and the models under a prefix; the installed binary, started from another folder
    /// through a symbolic link (argv[0] is then just "stylize"), finds its models.
    func testInstalledToolWorksOutsideTheBuildTree() throws {
        let repository = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent()
        let prefix = root.appendingPathComponent("prefix")
        let install = Process()
        install.executableURL = URL(fileURLWithPath: "/bin/bash")
        install.arguments = [repository.appendingPathComponent("tools/install.sh").path, "--binary", StylizeBinary.binary.path, prefix.path]
        install.standardOutput = FileHandle.nullDevice
        try install.run()
        install.waitUntilExit()
        XCTAssertEqual(install.terminationStatus, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: prefix.appendingPathComponent("share/stylize/models/registry.json").path))
        let bin = root.appendingPathComponent("elsewhere/bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: bin.appendingPathComponent("stylize"), withDestinationURL: prefix.appendingPathComponent("bin/stylize"))
        try copy("rgb8.png", to: "elsewhere/in/a.png")
        func installed(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["stylize"] + arguments
            var environment = ProcessInfo.processInfo.environment
            environment["PATH"] = bin.path + ":/usr/bin:/bin"
            environment["STYLIZE_MODELS_DIR"] = nil
            process.environment = environment
            process.currentDirectoryURL = root.appendingPathComponent("elsewhere")
            let output = Pipe(), error = Pipe()
            process.standardOutput = output
            process.standardError = error
            try process.run()
            let out = output.fileHandleForReading.readDataToEndOfFile(), err = error.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
        }
        let list = try installed(["models", "list"])
        XCTAssertEqual(list.status, 0, list.error)
        XCTAssertTrue(list.output.contains(prefix.appendingPathComponent("share/stylize/models").path), list.output)
        for (arguments, output) in [(["--model", "photo2monet", "in", "monet"], "monet"), (["upscale", "in", "big", "--steps", "1"], "big"),
                                    (["colorize", "in", "color", "--steps", "1"], "color")] {
            let result = try installed(arguments + ["--quiet"])
            XCTAssertEqual(result.status, 0, "\(arguments): \(result.error)")
            XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("elsewhere/\(output)/a.png").path), output)
        }
        // Moved away from its models, it says where it looked, each place once.
        try FileManager.default.moveItem(at: prefix.appendingPathComponent("share"), to: root.appendingPathComponent("moved"))
        let lost = try installed(["models", "list"])
        XCTAssertEqual(lost.status, 1)
        XCTAssertTrue(lost.error.contains(prefix.appendingPathComponent("share/stylize/models").path) && lost.error.contains("STYLIZE_MODELS_DIR"), lost.error)
    }
}
