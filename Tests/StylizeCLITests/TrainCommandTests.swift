import _TestSupport
import Datasets
import Foundation
import ImageIO
import NN
import Tensor
import XCTest

/// `stylize train …`, `--continue` and `stylize test` through the built binary, on tiny data.
final class TrainCommandTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = try temporaryDirectory()
        for (offset, split) in ["trainA", "trainB", "testA", "testB"].enumerated() {
            try SmoothImages.write(count: 3, to: root.appendingPathComponent("data/\(split)"), width: 44, height: 36, seed: 8 + UInt64(offset),
                                   prefix: "image ")
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    var tiny: [String] {
        ["--netG", "resnet_2blocks", "--ngf", "4", "--ndf", "4", "--load-size", "36", "--crop-size", "32", "--quiet",
         "--checkpoints", root.appendingPathComponent("checkpoints").path, "--threads", "2"]
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: root.appendingPathComponent(path).path) }

    /// A bounded CycleGAN run writes its models, state, log, curve and page; --continue goes on from the saved
    /// iteration; the model translates images and `stylize test` makes a results page of them.
    func testCycleGANTrainContinueAndTestPage() throws {
        let data = root.appendingPathComponent("data").path
        let first = try StylizeBinary.run(["train", "cyclegan", "--dataroot", data, "--name", "tiny", "--max-iters", "2", "--print-every", "1"] + tiny)
        XCTAssertEqual(first.status, 0, first.error + first.output)
        XCTAssertTrue(first.output.contains("stopped after iteration 2"), first.output)
        for file in ["latest_net_G_A.safetensors", "latest_net_G_B.safetensors", "latest_state.safetensors", "loss_log.jsonl",
                     "loss_curve.png", "web/index.html", "web/images/epoch001_fake_B.png"] {
            XCTAssertTrue(exists("checkpoints/tiny/" + file), file)
        }
        let resumed = try StylizeBinary.run(["train", "cyclegan", "--dataroot", data, "--name", "tiny", "--max-iters", "4", "--print-every", "1", "--continue"] + tiny)
        XCTAssertEqual(resumed.status, 0, resumed.error)
        XCTAssertTrue(resumed.output.contains("continuing at iteration 2"), resumed.output)
        let log = try String(contentsOf: root.appendingPathComponent("checkpoints/tiny/loss_log.jsonl"), encoding: .utf8)
        XCTAssertEqual(log.split(separator: "\n").count, 4)

        let model = root.appendingPathComponent("checkpoints/tiny/latest_net_G_A.safetensors").path
        let results = root.appendingPathComponent("results").path
        let page = try StylizeBinary.run(["test", "--model", model, "--dataroot", data, "--results-dir", results, "--quiet"])
        XCTAssertEqual(page.status, 0, page.error)
        let html = try String(contentsOf: root.appendingPathComponent("results/tiny_G_A/index.html"), encoding: .utf8)
        XCTAssertTrue(html.contains("images/image%200_fake_B.png"), html)
        let output = try Image.read(contentsOf: root.appendingPathComponent("results/tiny_G_A/images/image 2_fake_B.png"))
        XCTAssertEqual([output.width, output.height], [44, 36], "outputs keep the input size")
        // G_B translates B → A: it takes testB and gets its own page; G_A's page stays.
        let modelB = root.appendingPathComponent("checkpoints/tiny/latest_net_G_B.safetensors").path
        let pageB = try StylizeBinary.run(["test", "--model", modelB, "--dataroot", data, "--results-dir", results, "--quiet"])
        XCTAssertEqual(pageB.status, 0, pageB.error)
        let htmlB = try String(contentsOf: root.appendingPathComponent("results/tiny_G_B/index.html"), encoding: .utf8)
        XCTAssertTrue(htmlB.contains("B → A") && htmlB.contains("image%201_fake_A.png"), htmlB)
        let shownInput = try Image.read(contentsOf: root.appendingPathComponent("results/tiny_G_B/images/image 1_real_B.png"))
        XCTAssertEqual(shownInput, try Image.read(contentsOf: root.appendingPathComponent("data/testB/image 1.png")), "G_B's input is the B image")
        XCTAssertEqual(try String(contentsOf: root.appendingPathComponent("results/tiny_G_A/index.html"), encoding: .utf8), html)

        let noState = try StylizeBinary.run(["train", "cyclegan", "--dataroot", data, "--name", "other", "--continue"] + tiny)
        XCTAssertNotEqual(noState.status, 0)
        XCTAssertTrue(noState.error.contains("no training state"), noState.error)
    }

    func state(_ name: String) throws -> [String: String] {
        try Safetensors.metadata(contentsOf: root.appendingPathComponent("checkpoints/\(name)/latest_state.safetensors"))
    }

    /// Training again into a folder that holds a run is refused (the run stays whole); --overwrite starts over and
    /// --continue resumes; both at once are a usage error.
    func testAnExistingRunIsRefusedUnlessContinuedOrOverwritten() throws {
        let data = root.appendingPathComponent("data").path
        let base = ["train", "cyclegan", "--dataroot", data, "--name", "run", "--print-every", "1"] + tiny
        XCTAssertEqual(try StylizeBinary.run(base + ["--max-iters", "3"]).status, 0)
        let log = root.appendingPathComponent("checkpoints/run/loss_log.jsonl")
        let before = try Data(contentsOf: log)
        let again = try StylizeBinary.run(base + ["--max-iters", "1"])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.error.contains("a run exists here (3 iterations)") && again.error.contains("--continue")
                      && again.error.contains("--overwrite"), again.error)
        XCTAssertEqual(try Data(contentsOf: log), before, "the run is untouched")
        XCTAssertEqual(try state("run")["counter.iterations"], "3")
        let over = try StylizeBinary.run(base + ["--max-iters", "1", "--overwrite"])
        XCTAssertEqual(over.status, 0, over.error)
        XCTAssertEqual(try state("run")["counter.iterations"], "1")
        XCTAssertEqual(try String(contentsOf: log, encoding: .utf8).split(separator: "\n").count, 1, "a new loss log")
        let both = try StylizeBinary.run(base + ["--continue", "--overwrite"])
        XCTAssertEqual(both.status, 64)
    }

    /// --continue takes the options the run started with (here a crop the defaults would not give, and the tiny
    /// networks) and refuses other networks with a sentence naming both.
    func testContinueReusesTheRunsOptions() throws {
        let data = root.appendingPathComponent("data").path
        let checkpoints = root.appendingPathComponent("checkpoints").path
        let first = try StylizeBinary.run(["train", "cyclegan", "--dataroot", data, "--name", "opts", "--max-iters", "1"] + tiny)
        XCTAssertEqual(first.status, 0, first.error)
        let arguments = try XCTUnwrap(try state("opts")["run.arguments"])
        XCTAssertTrue(arguments.contains("resnet_2blocks") && !arguments.contains("--max-iters"), arguments)
        let resumed = try StylizeBinary.run(["train", "cyclegan", "--continue", "--name", "opts", "--checkpoints", checkpoints,
                                             "--max-iters", "2", "--quiet", "--print-every", "1"])
        XCTAssertEqual(resumed.status, 0, resumed.error + resumed.output)
        XCTAssertTrue(resumed.output.contains("resnet_2blocks ngf 4") && resumed.output.contains("continuing at iteration 1"), resumed.output)
        XCTAssertEqual(try state("opts")["counter.iterations"], "2")
        let changed = try StylizeBinary.run(["train", "cyclegan", "--continue", "--name", "opts", "--checkpoints", checkpoints,
                                             "--netG", "resnet_9blocks", "--max-iters", "3"])
        XCTAssertEqual(changed.status, 1)
        XCTAssertTrue(changed.error.contains("started with --net-g resnet_2blocks") && changed.error.contains("asks for --net-g resnet_9blocks"),
                      changed.error)
        XCTAssertEqual(try state("opts")["counter.iterations"], "2", "nothing ran")
    }

    /// SIGTERM during training: the iteration finishes, the state is saved at that iteration, the exit code is
    /// 128 + 15; the run continues from there.
    func testSIGTERMSavesTheStateAtTheCurrentIteration() throws {
        let data = root.appendingPathComponent("data").path
        let process = Process()
        process.executableURL = StylizeBinary.binary
        process.arguments = ["train", "cyclegan", "--dataroot", data, "--name", "term", "--max-iters", "100000", "--print-every", "1",
                             "--save-every", "100000"] + tiny
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let log = root.appendingPathComponent("checkpoints/term/loss_log.jsonl")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, ((try? String(contentsOf: log, encoding: .utf8))?.split(separator: "\n").count ?? 0) < 2 {
            usleep(20_000)
        }
        process.terminate()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 128 + SIGTERM, printed)
        let match = try XCTUnwrap(printed.range(of: #"stopped after iteration (\d+)"#, options: .regularExpression), printed)
        let iteration = printed[match].split(separator: " ").last.map(String.init)
        XCTAssertEqual(try state("term")["counter.iterations"], iteration, "the state is at the iteration the signal stopped")
        XCTAssertGreaterThanOrEqual(Int(iteration ?? "") ?? 0, 2)
        let logged = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").count
        XCTAssertEqual(String(logged), iteration, "every finished iteration is logged")
    }

    /// A temporary file a killed save left is removed at the next start; a loss curve that cannot be written is a
    /// warning, not the end of the run; generators are stored as float16 where it holds them closely.
    func testLeftoversAndFailingPreviewsDoNotStopTheRun() throws {
        let data = root.appendingPathComponent("data").path
        let folder = root.appendingPathComponent("checkpoints/leftover")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("loss_curve.png"), withIntermediateDirectories: true)
        let stale = folder.appendingPathComponent(".latest_state.safetensors.stylize-partial-999999999-1")
        let foundationLeftover = folder.appendingPathComponent(".dat.nosync5c1.X1y2Z3")
        try Data(count: 1000).write(to: stale)
        try Data(count: 1000).write(to: foundationLeftover)
        let run = try StylizeBinary.run(["train", "cyclegan", "--dataroot", data, "--name", "leftover", "--max-iters", "2"] + tiny)
        XCTAssertEqual(run.status, 0, run.error)
        XCTAssertTrue(run.error.contains("warning: writing the loss curve and page failed, training goes on"), run.error)
        XCTAssertTrue(run.output.contains("stopped after iteration 2"), run.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: foundationLeftover.path))
        let header = try String(decoding: Data(contentsOf: folder.appendingPathComponent("latest_net_G_A.safetensors")).prefix(4000), as: UTF8.self)
        XCTAssertTrue(header.contains("\"F16\""), "generators in float16")
    }

    /// A GAN colorizer (`train colorize --method gan`) trains from a folder of colour photos and `stylize --model` or
    /// `stylize colorize --model` applies it to any photo: the output is RGB at the input's size with its lightness.
    func testColorizationTrainsAndApplies() throws {
        let photos = root.appendingPathComponent("data/trainA").path
        let trained = try StylizeBinary.run(["train", "colorize", "--method", "gan", "--dataroot", photos, "--name", "color", "--max-iters", "2"] + tiny)
        XCTAssertEqual(trained.status, 0, trained.error + trained.output)
        let model = root.appendingPathComponent("checkpoints/color/latest_net_G.safetensors").path
        let output = root.appendingPathComponent("colored").path
        let applied = try StylizeBinary.run(["--model", model, root.appendingPathComponent("data/testA").path, output, "--quiet"])
        XCTAssertEqual(applied.status, 0, applied.error)
        // One concept: `stylize colorize` takes the GAN colorizer too, with the same result.
        let viaColorize = try StylizeBinary.run(["colorize", "--model", model, root.appendingPathComponent("data/testA").path,
                                                 root.appendingPathComponent("colored2").path, "--quiet"])
        XCTAssertEqual(viaColorize.status, 0, viaColorize.error)
        XCTAssertEqual(try Image.read(contentsOf: root.appendingPathComponent("colored2/image 1.png")),
                       try Image.read(contentsOf: URL(fileURLWithPath: output).appendingPathComponent("image 1.png")))
        let input = try Image.read(contentsOf: root.appendingPathComponent("data/testA/image 1.png"))
        let result = try Image.read(contentsOf: URL(fileURLWithPath: output).appendingPathComponent("image 1.png"))
        XCTAssertEqual([result.width, result.height, result.channels], [44, 36, 3])
        // Same Lab lightness (L/50 − 1): an untrained colorizer's chroma is near zero, so nothing is clipped and only
        // 8-bit rounding remains (about 0.4 L).
        let before = LabEncoding.split(input.rgb().converted(toBitDepth: 8)).lightness
        let after = LabEncoding.split(result).lightness
        XCTAssertLessThan(withoutGradient { (before - after).abs().max().item } * 50, 1.5)
    }

    /// Bad data and sizes fail before training, naming the problem.
    func testTrainingErrorsNameTheProblem() throws {
        let missing = try StylizeBinary.run(["train", "cyclegan", "--dataroot", "/nonexistent/data", "--name", "x"] + tiny)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.error.contains("/nonexistent/data/trainA"), missing.error)
        let crop = try StylizeBinary.run(["train", "pix2pix", "--dataroot", root.path, "--name", "x", "--crop-size", "64"])
        XCTAssertTrue(crop.error.contains("multiple of 256"), crop.error)
        XCTAssertFalse(exists("checkpoints/x"), "nothing is written for a run that cannot start")
    }

    var small: [String] {
        ["--crop-size", "16", "--batch-size", "2", "--max-iters", "2", "--quiet",
         "--checkpoints-dir", root.appendingPathComponent("checkpoints").path, "--threads", "2"]
    }

    /// Trains a tiny two-stage model through the binary: the stage-1 estimator of `task` (`sr` or `colorize`), a tiny
    /// compact VAE, then the flow on both; returns (stage-1 file, two-stage file).
    func trainTwoStage(_ task: String) throws -> (estimator: String, twoStage: String) {
        let photos = root.appendingPathComponent("data/trainA").path
        let file = task == "sr" ? "SR" : "colorize"
        let estimator = task == "sr" ? ["--estimator-channels", "4", "--estimator-blocks", "1"] : ["--estimator-channels", "4,4,4", "--estimator-blocks", "1"]
        let stage1 = try StylizeBinary.run(["train", task, "--dataroot", photos, "--name", "\(task)1"] + estimator + small)
        XCTAssertEqual(stage1.status, 0, stage1.error + stage1.output)
        let vae = try StylizeBinary.run(["train", "vae", "--dataroot", photos, "--name", "vae", "--vae-style", "pixel_shuffle", "--vae-channels", "8",
                                         "--vae-multipliers", "1,2,4", "--vae-blocks", "1", "--latent-channels", "2"] + small)
        XCTAssertEqual(vae.status, 0, vae.error + vae.output)
        let stage1File = root.appendingPathComponent("checkpoints/\(task)1/latest_net_\(file).safetensors").path
        let flow = try StylizeBinary.run(["train", task, "--stage", "flow", "--dataroot", photos, "--name", "\(task)2",
                                          "--estimator", stage1File, "--vae", root.appendingPathComponent("checkpoints/vae/latest_net_VAE.safetensors").path,
                                          "--flow-channels", "8", "--flow-multipliers", "1,2", "--flow-blocks", "1", "--flow-attention", "1",
                                          "--preview-steps", "2"] + small)
        XCTAssertEqual(flow.status, 0, flow.error + flow.output)
        XCTAssertTrue(exists("checkpoints/\(task)2/web/images/epoch001_flow.png"))
        return (stage1File, root.appendingPathComponent("checkpoints/\(task)2/latest_net_\(file).safetensors").path)
    }

    /// sr: stage 1 and stage 2 through the binary; `upscale` gives ×4 outputs at every --detail (the ends differ, a
    /// stage-1 model ignores it), a rerun skips them, and `stylize test` shows input, bicubic, estimate, output, truth.
    func testTrainSRThenUpscaleAndTest() throws {
        let (stage1, twoStage) = try trainTwoStage("sr")
        let input = root.appendingPathComponent("data/testA").path
        for (model, detail, folder) in [(stage1, "1", "s1"), (twoStage, "0", "d0"), (twoStage, "1", "d1")] {
            let upscaled = try StylizeBinary.run(["upscale", "--model", model, input, root.appendingPathComponent(folder).path, "--detail", detail,
                                                  "--steps", "2", "--quiet"])
            XCTAssertEqual(upscaled.status, 0, upscaled.error)
            let big = try Image.read(contentsOf: root.appendingPathComponent("\(folder)/image 0.png"))
            XCTAssertEqual([big.width, big.height], [176, 144], "×4")
        }
        XCTAssertEqual(try Image.read(contentsOf: root.appendingPathComponent("d0/image 1.png")).samples.count,
                       try Image.read(contentsOf: root.appendingPathComponent("d1/image 1.png")).samples.count)
        XCTAssertNotEqual(try Image.read(contentsOf: root.appendingPathComponent("d0/image 1.png")),
                          try Image.read(contentsOf: root.appendingPathComponent("d1/image 1.png")), "the knob's ends differ")
        let again = try StylizeBinary.run(["upscale", "--model", twoStage, input, root.appendingPathComponent("d1").path, "--detail", "1", "--quiet"])
        XCTAssertTrue(again.output.contains("skipped 3"), again.output)
        let page = try StylizeBinary.run(["test", "--model", twoStage, "--dataroot", input, "--results-dir", root.appendingPathComponent("results").path,
                                          "--quiet"])
        XCTAssertEqual(page.status, 0, page.error)
        let html = try String(contentsOf: root.appendingPathComponent("results/sr2/index.html"), encoding: .utf8)
        for label in ["low_resolution", "bicubic", "estimate", "upscaled", "truth"] { XCTAssertTrue(html.contains("image%201_\(label).png"), label) }
        let low = try Image.read(contentsOf: root.appendingPathComponent("results/sr2/images/image 1_low_resolution.png"))
        XCTAssertEqual([low.width, low.height], [11, 9])
    }

    /// colorize: stage 1 and stage 2 through the binary; outputs keep the input's size and lightness, whole and in
    /// tiles, at the default and with --vibrance/--temperature/--detail.
    func testTrainColorizeThenColorizeKeepsLightness() throws {
        let (_, colorModel) = try trainTwoStage("colorize")
        let input = root.appendingPathComponent("data/testA").path
        let original = try Image.read(contentsOf: root.appendingPathComponent("data/testA/image 1.png"))
        let before = LabEncoding.split(original.rgb().converted(toBitDepth: 8)).lightness
        for (folder, extra) in [("colored", [String]()), ("vivid", ["--vibrance", "1.5", "--temperature", "0.3", "--detail", "1", "--steps", "2"]),
                                ("tiled", ["--detail", "1", "--steps", "2", "--tile-size", "32", "--tile-overlap", "8"])] {
            let colored = try StylizeBinary.run(["colorize", "--model", colorModel, input, root.appendingPathComponent(folder).path, "--quiet"] + extra)
            XCTAssertEqual(colored.status, 0, colored.error)
            let result = try Image.read(contentsOf: root.appendingPathComponent("\(folder)/image 1.png"))
            XCTAssertEqual([result.width, result.height], [44, 36])
            // The lightness is the input's; only chroma clipped at the gamut edge and 8-bit rounding move it.
            XCTAssertLessThan(withoutGradient { (before - LabEncoding.split(result).lightness).abs().mean().item } * 50, 1.0, folder)
        }
    }

    /// A model of the other task and a missing model are clear errors; bad --detail and tile sizes are usage errors.
    func testRestorationModelErrors() throws {
        let photos = root.appendingPathComponent("data/trainA").path
        let stage1 = try StylizeBinary.run(["train", "sr", "--dataroot", photos, "--name", "sr1", "--estimator-channels", "4", "--estimator-blocks", "1"] + small)
        XCTAssertEqual(stage1.status, 0, stage1.error)
        let srModel = root.appendingPathComponent("checkpoints/sr1/latest_net_SR.safetensors").path
        let input = root.appendingPathComponent("data/testA").path
        let wrong = try StylizeBinary.run(["colorize", "--model", srModel, input, root.appendingPathComponent("x").path])
        XCTAssertEqual(wrong.status, 1)
        XCTAssertTrue(wrong.error.contains("super-resolution model, not a colorize model") && wrong.error.contains("stylize upscale --model"), wrong.error)
        let missing = try StylizeBinary.run(["upscale", "--model", "/nonexistent/m.safetensors", input, root.appendingPathComponent("x").path])
        XCTAssertTrue(missing.error.contains("/nonexistent/m.safetensors: no such model file"), missing.error)
        for bad in [["--tile-size", "8"], ["--detail", "1.5"]] {
            let result = try StylizeBinary.run(["upscale", "--model", srModel, input, root.appendingPathComponent("x").path] + bad)
            XCTAssertEqual(result.status, 64, "\(bad)")
        }
        let noVAE = try StylizeBinary.run(["train", "sr", "--stage", "flow", "--dataroot", photos, "--name", "f", "--estimator", srModel] + small)
        XCTAssertEqual(noVAE.status, 64)
        XCTAssertTrue(noVAE.error.contains("give --vae"), noVAE.error)
    }
}
