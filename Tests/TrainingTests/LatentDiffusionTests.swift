import _TestSupport
import Datasets
import Foundation
import ImageIO
import Models
import NN
import Pipelines
import Tensor
import Training
import XCTest

final class LatentDiffusionTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = try temporaryDirectory()
        try SmoothImages.write(count: 4, to: root.appendingPathComponent("photos"), width: 32, height: 32, seed: 5)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// Space-to-depth puts each f×f block into channels row by row; replacing the lightness keeps the new L exactly
    /// (up to float rounding) and the chroma of the image.
    func testConditionsAndLightness() {
        let plane = Tensor(shape: [1, 1, 2, 4], scalars: [0, 1, 2, 3, 4, 5, 6, 7])
        let blocks = LatentDiffusionModel.spaceToDepth(plane, factor: 2)
        XCTAssertEqual(blocks.shape, [1, 4, 1, 2])
        XCTAssertEqual((0..<8).map { blocks.pointer[$0] }, [0, 2, 1, 3, 4, 6, 5, 7])
        let image = Tensor.randomUniform([1, 3, 4, 4], low: -0.8, high: 0.8, generator: RandomGenerator(seed: 3))
        let gray = Tensor(shape: [1, 1, 4, 4], repeating: 0.1)
        let recolored = LabEncoding.replacingLightness(ofRGB: image, with: gray)
        let lightness = LabEncoding.lightness(ofRGB: recolored)
        XCTAssertLessThan(withoutGradient { (lightness - gray).abs().max().item }, 0.02, "L kept (chroma may clip a little)")
        let box = LatentDiffusionModel.condition(for: image, task: .superResolution, factor: 2)
        XCTAssertEqual(box.shape, [1, 3, 2, 2])
        XCTAssertEqual(box.pointer[0], (image.pointer[0] + image.pointer[1] + image.pointer[4] + image.pointer[5]) / 4, accuracy: 1e-6)
    }

    /// Two epochs of batch 2 in CHECKPOINTS/NAME, every loss logged, optionally stopped after `stopAt` iterations.
    func shortRun(_ name: String, stopAt: Int?) -> TrainingOptions {
        var training = TrainingOptions(name: name, checkpoints: root.appendingPathComponent("checkpoints"))
        training.epochs = 2
        training.decayEpochs = 0
        training.batchSize = 2
        training.printEvery = 1
        training.progressBar = false
        training.maxIterations = stopAt
        return training
    }

    /// A tiny super-resolution trainer writing CHECKPOINTS/NAME, optionally stopped after `stopAt` iterations.
    func superResolutionTrainer(_ name: String, stopAt: Int? = nil) throws -> Trainer {
        let dataset = try SingleDataset(folder: root.appendingPathComponent("photos"), preprocessing: Preprocessing(mode: .crop, cropSize: 16, flip: true))
        let autoencoder = AutoencoderKL(TinyModels.autoencoder, generator: RandomGenerator(seed: 4))
        let training = shortRun(name, stopAt: stopAt)
        var options = LatentDiffusionOptions()
        options.unet = TinyModels.unet
        options.previewSteps = 2
        options.emaDecay = 0.5
        return try Trainer(recipe: LatentDiffusionRecipe(options: options, autoencoder: autoencoder, scaleFactor: 2, training: training),
                           options: training, dataset: dataset, workers: 1)
    }

    /// A super-resolution run stopped and continued logs the uninterrupted run's losses and ends with the same EMA
    /// weights.
    func testSuperResolutionResumesExactly() throws {
        func losses(_ trainer: Trainer) throws -> [String] {
            try String(contentsOf: trainer.directory.appendingPathComponent("loss_log.jsonl"), encoding: .utf8).split(separator: "\n")
                .map { line in line.replacingOccurrences(of: #""seconds":[0-9.e-]+,?"#, with: "", options: .regularExpression) }
        }
        let whole = try superResolutionTrainer("whole")
        try whole.run(log: { _ in })
        try superResolutionTrainer("split", stopAt: 1).run(log: { _ in })
        let resumed = try superResolutionTrainer("split")
        try resumed.resume()
        try resumed.run(log: { _ in })
        XCTAssertEqual(try losses(resumed), try losses(whole))
        XCTAssertEqual(try losses(whole).count, 4)
        let a = try Safetensors.read(contentsOf: whole.directory.appendingPathComponent("latest_net_LDM.safetensors")).dictionary
        let b = try Safetensors.read(contentsOf: resumed.directory.appendingPathComponent("latest_net_LDM.safetensors")).dictionary
        XCTAssertEqual(a["unet.conv_out.weight"]?.pointer[0], b["unet.conv_out.weight"]?.pointer[0], "the same EMA weights")
    }

    /// The exported model reloads with its task and scale, upscales ×f at any size, and seeded sampling repeats; a file
    /// that is no latent-diffusion model is refused.
    func testExportedModelReloadsAndUpscalesReproducibly() throws {
        let trainer = try superResolutionTrainer("export", stopAt: 1)
        try trainer.run(log: { _ in })
        let model = try LatentDiffusionModel.load(contentsOf: trainer.directory.appendingPathComponent("latest_net_LDM.safetensors"))
        XCTAssertEqual(model.task, .superResolution)
        XCTAssertEqual(model.scaleFactor, 2)
        let small = Image(tensor: Tensor.randomUniform([1, 3, 5, 7], low: -1, high: 1, generator: RandomGenerator(seed: 6)))
        let large = model.upscale(small, steps: 3, seed: 1)
        XCTAssertEqual([large.width, large.height], [14, 10])
        XCTAssertEqual(model.upscale(small, steps: 3, seed: 1).samples, large.samples, "seeded sampling repeats")
        XCTAssertThrowsError(try LatentDiffusionModel.load(contentsOf: fixturesDirectory.appendingPathComponent("ddim.safetensors")))
    }

    /// The autoencoder recipe learns to reconstruct: the reconstruction error of the posterior mean on a fixed,
    /// un-flipped batch (all four images) falls to less than half of the untrained network's. Training batches are
    /// randomly flipped; only the scoring batch is fixed, so the figure does not hinge on one random augmentation.
    func testAutoencoderRecipeLearns() throws {
        var options = AutoencoderOptions()
        options.configuration = TinyModels.autoencoder
        options.initialLogVariance = -6
        var training = TrainingOptions(name: "vae", checkpoints: root)
        training.learningRate = 2e-3
        let recipe = AutoencoderRecipe(options: options, training: training)
        let dataset = try SingleDataset(folder: root.appendingPathComponent("photos"), preprocessing: Preprocessing(mode: .none, flip: true))
        let fixed = try DataLoader(dataset: try SingleDataset(folder: root.appendingPathComponent("photos"), preprocessing: Preprocessing(mode: .none, flip: false)),
                                   batchSize: 4, shuffle: false, workers: 1).batches(epoch: 0).nextBatch()!.a
        func reconstructionError() -> Float {
            recipe.autoencoder.eval()
            defer { recipe.autoencoder.train() }
            return withoutGradient {
                let mean = recipe.autoencoder.encode(fixed).mean
                return Tensor.l1Loss(recipe.autoencoder.decode(mean), fixed).item
            }
        }
        let before = reconstructionError()
        for epoch in 0..<150 {
            let iterator = DataLoader(dataset: dataset, batchSize: 4, seed: UInt64(epoch), workers: 1).batches(epoch: epoch)
            while let batch = try iterator.nextBatch() { _ = recipe.step(batch) }
        }
        let after = reconstructionError()
        XCTAssertLessThan(after, before * 0.5, "reconstruction L1 \(before) → \(after)")
        XCTAssertEqual(recipe.exportedGenerators.first?.metadata["kind"], "autoencoder_kl")
        XCTAssertGreaterThan(recipe.scaleFactor, 0)
    }

    /// With the PatchGAN term (32-pixel crops: its patches need at least that): nothing adversarial before --gan-start, then both losses move; the discriminator and
    /// the step count are in the state, so a stopped and continued run logs the uninterrupted run's losses.
    func testAutoencoderAdversarialTermAndResume() throws {
        let dataset = try SingleDataset(folder: root.appendingPathComponent("photos"), preprocessing: Preprocessing(mode: .crop, cropSize: 32, flip: true))
        func trainer(_ name: String, stopAt: Int? = nil) throws -> Trainer {
            let training = shortRun(name, stopAt: stopAt)
            var options = AutoencoderOptions()
            options.configuration = TinyModels.autoencoder
            options.ganWeight = 0.5
            options.ganStart = 1
            options.discriminatorFilters = 8
            return try Trainer(recipe: AutoencoderRecipe(options: options, training: training), options: training, dataset: dataset, workers: 1)
        }
        func records(_ trainer: Trainer) throws -> [[String: Any]] {
            try String(contentsOf: trainer.directory.appendingPathComponent("loss_log.jsonl"), encoding: .utf8).split(separator: "\n")
                .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        }
        let whole = try trainer("whole")
        try whole.run(log: { _ in })
        try trainer("split", stopAt: 3).run(log: { _ in })
        let resumed = try trainer("split")
        try resumed.resume()
        try resumed.run(log: { _ in })
        let expected = try records(whole), actual = try records(resumed)
        XCTAssertEqual(expected.count, 4)
        XCTAssertEqual(expected[0]["D"] as? Double, 0, "no adversarial step before --gan-start")
        XCTAssertNotEqual(expected[1]["D"] as? Double, 0)
        XCTAssertNotEqual(expected[1]["G_GAN"] as? Double, 0)
        for (a, b) in zip(expected, actual) {
            for key in ["L1", "KL", "G_GAN", "D"] { XCTAssertEqual(a[key] as? Double, b[key] as? Double, key) }
        }
        let state = try Safetensors.read(contentsOf: whole.directory.appendingPathComponent("latest_state.safetensors")).dictionary
        XCTAssertTrue(state.keys.contains { $0.hasPrefix("D.") }, "the discriminator is saved")
    }
}
