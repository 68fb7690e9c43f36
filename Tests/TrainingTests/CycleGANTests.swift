import _TestSupport
import Datasets
import Foundation
import ImageIO
import Models
import NN
import Tensor
import Training
import XCTest

final class CycleGANTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws { root = try temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// Where a scene's object is and the tint of its background.
    struct Layout {
        /// Per pixel, how much of the object it shows (a Gaussian blob, 0…1), `side × side`.
        let weights: [Float]
        /// A smooth tint added everywhere, `[1, 3, side, side]`.
        let tint: Tensor
    }

    static let background: [Float] = [-0.6, 0.2, 0.5]
    static let objectA: [Float] = [0.7, -0.5, -0.3]
    static let objectB: [Float] = [-0.4, 0.7, -0.5]

    static func layout(side: Int, generator: RandomGenerator) -> Layout {
        let tint = Tensor.randomUniform([1, 3, 2, 2], low: -0.05, high: 0.05, generator: generator)
            .upsampled(height: side, width: side, mode: .bilinear)
        let sigma = 2 + 1.5 * Float(generator.nextDouble())
        let centerX = Float(generator.nextDouble()) * Float(side), centerY = Float(generator.nextDouble()) * Float(side)
        var weights = [Float](repeating: 0, count: side * side)
        for y in 0..<side {
            for x in 0..<side {
                let distance = (Float(x) + 0.5 - centerX) * (Float(x) + 0.5 - centerX) + (Float(y) + 0.5 - centerY) * (Float(y) + 0.5 - centerY)
                weights[y * side + x] = exp(-distance / (2 * sigma * sigma))
            }
        }
        return Layout(weights: weights, tint: tint)
    }

    /// A `[1, 3, side, side]` scene of `layout` with its object in `object`'s colour.
    static func render(_ layout: Layout, object: [Float]) -> Tensor {
        let side = layout.tint.shape[3], plane = side * side
        let scene = Tensor(uninitializedShape: [1, 3, side, side])
        for channel in 0..<3 {
            for pixel in 0..<plane {
                let weight = layout.weights[pixel]
                scene.pointer[channel * plane + pixel] = (1 - weight) * background[channel] + weight * object[channel]
                    + layout.tint.pointer[channel * plane + pixel]
            }
        }
        return scene
    }

    static func scene(side: Int, generator: RandomGenerator) -> Tensor { render(layout(side: side, generator: generator), object: objectA) }

    func tinyOptions(identity: Float = 0.5, pool: Int = 50) -> CycleGANOptions {
        var options = CycleGANOptions()
        options.architecture = GeneratorArchitecture(kind: .resnet, depth: 2, filters: 8, normalization: .instance)
        options.discriminator = DiscriminatorArchitecture(kind: .nLayers, filters: 8, layers: 2, normalization: .instance)
        options.lambdaIdentity = identity
        options.poolSize = pool
        return options
    }

    /// From unpaired sets — scenes with a red object, and *other* scenes with a green one, on the same background —
    /// the default recipe (cycle, identity and LSGAN losses, instance norm, pools) learns to recolour the object and
    /// keep the background: G_A's PSNR to the true recolouring of held-out scenes rises far above that of returning
    /// the input unchanged; G_B learns the way back.
    func testLearnsARecolouringFromUnpairedSets() throws {
        let side = 16, random = RandomGenerator(seed: 3)
        let scenesA = (0..<32).map { _ in Self.render(Self.layout(side: side, generator: random), object: Self.objectA) }
        let scenesB = (0..<32).map { _ in Self.render(Self.layout(side: side, generator: random), object: Self.objectB) }
        let layouts = (0..<8).map { _ in Self.layout(side: side, generator: random) }
        let heldOutA = Tensor.concatenated(layouts.map { Self.render($0, object: Self.objectA) }, axis: 0)
        let heldOutB = Tensor.concatenated(layouts.map { Self.render($0, object: Self.objectB) }, axis: 0)
        var training = TrainingOptions(name: "recolour", checkpoints: root)
        training.learningRate = 2e-3
        training.seed = 5
        let recipe = CycleGANRecipe(options: tinyOptions(), training: training)
        func decibels(_ result: Tensor, _ truth: Tensor) -> Double {
            10 * log10(4 / Double(withoutGradient { Tensor.mseLoss(result, truth).item }))  // the range is [-1, 1]
        }
        func psnr() -> (forward: Double, backward: Double) {
            recipe.generatorA.eval()
            recipe.generatorB.eval()
            let (fakeB, fakeA) = withoutGradient { (recipe.generatorA(heldOutA), recipe.generatorB(heldOutB)) }
            return (decibels(fakeB, heldOutB), decibels(fakeA, heldOutA))
        }
        let unchanged = decibels(heldOutA, heldOutB), before = psnr()
        let order = RandomGenerator(seed: 9)
        for _ in 0..<300 {
            let a = Tensor.concatenated((0..<4).map { _ in scenesA[order.nextInt(below: scenesA.count)] }, axis: 0)
            let b = Tensor.concatenated((0..<4).map { _ in scenesB[order.nextInt(below: scenesB.count)] }, axis: 0)
            let losses = recipe.step(Batch(a: a, b: b))
            XCTAssertTrue(losses.values.allSatisfy(\.isFinite), "\(losses)")
        }
        let after = psnr()
        // Seeds 1–5 all end at 24–28 dB; the input itself scores 18.4 dB and the untrained generators 10–13 dB.
        XCTAssertLessThan(max(before.forward, before.backward), 15, "untrained: \(before)")
        XCTAssertLessThan(unchanged, 19)
        XCTAssertGreaterThan(after.forward, unchanged + 4, "G_A PSNR \(before.forward) → \(after.forward) dB; the input itself \(unchanged) dB")
        XCTAssertGreaterThan(after.backward, unchanged + 4, "G_B PSNR \(before.backward) → \(after.backward) dB; the input itself \(unchanged) dB")
    }

    func writeUnalignedSet(count: Int, side: Int) throws -> URL {
        let random = RandomGenerator(seed: 1), folder = root.appendingPathComponent("data")
        for index in 0..<count {
            for (split, sign) in [("trainA", Float(1)), ("trainB", -1)] {
                let url = folder.appendingPathComponent("\(split)/\(index).png")
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Image(tensor: Self.scene(side: side, generator: random) * sign).write(to: url)
            }
        }
        return folder
    }

    /// A CycleGAN run stopped after 3 iterations and continued from its state logs exactly the losses of the
    /// uninterrupted run — networks, Adam moments, the random state and both image pools are restored.
    func testResumeReproducesTheUninterruptedRun() throws {
        try checkResume(stabilised: false)
    }

    /// The same with every stabiliser on: LSGAN with label smoothing 0.9, two discriminator steps at half the learning
    /// rate, feature matching, historical averaging, the generators' average, minibatch standard deviation, spectral
    /// normalisation and virtual batch norm.
    func testResumeWithEveryStabiliserReproducesTheUninterruptedRun() throws {
        try checkResume(stabilised: true)
    }

    func checkResume(stabilised: Bool) throws {
        let data = try writeUnalignedSet(count: 4, side: 16)
        let dataset = try UnalignedDataset(root: data, preprocessing: Preprocessing(mode: .none, flip: true))
        var options = tinyOptions(identity: 0.5, pool: 2)
        if stabilised {
            options.adversarial.realLabel = 0.9
            enableEveryStabiliser(&options.adversarial, generator: &options.architecture, discriminator: &options.discriminator)
        }
        func trainer(_ name: String, stopAt: Int? = nil) throws -> Trainer {
            var training = TrainingOptions(name: name, checkpoints: root.appendingPathComponent("checkpoints"))
            training.epochs = 1
            training.decayEpochs = 1
            training.printEvery = 1
            training.progressBar = false
            training.maxIterations = stopAt
            // A pool of 2 fills in the first two steps, so the resumed steps swap with stored images.
            return try Trainer(recipe: CycleGANRecipe(options: options, training: training),
                               options: training, dataset: dataset, workers: 1)
        }
        func losses(_ trainer: Trainer) throws -> [[String: Double]] { try lossRecords(in: trainer.directory) }
        let whole = try trainer("whole")
        try whole.run(log: { _ in })
        XCTAssertEqual(whole.iterations, 8)
        try trainer("split", stopAt: 3).run(log: { _ in })
        let resumed = try trainer("split")
        try resumed.resume()
        XCTAssertEqual(resumed.iterations, 3)
        try resumed.run(log: { _ in })
        let expected = try losses(whole), actual = try losses(resumed)
        XCTAssertEqual(actual.count, 8)
        XCTAssertEqual(actual, expected)
        let stabiliserLosses = stabilised ? ["D_hist", "FM_A", "FM_B", "G_hist"] : []
        XCTAssertEqual(expected.first?.keys.sorted(), (["D_A", "D_B", "G_A", "G_B", "cycle_A", "cycle_B", "epoch", "idt_A", "idt_B",
                                                        "iteration", "lr"] + stabiliserLosses).sorted())
        for name in ["latest_net_G_A.safetensors", "latest_net_G_B.safetensors"] {
            XCTAssertEqual(try Data(contentsOf: whole.directory.appendingPathComponent(name)),
                           try Data(contentsOf: resumed.directory.appendingPathComponent(name)), name)
        }

        // What the run leaves: both generators as loadable models, per-epoch snapshots, the curve and the page.
        let directory = resumed.directory
        for file in ["latest_net_G_A.safetensors", "latest_net_G_B.safetensors", "epoch_2_net_G_A.safetensors",
                     "latest_state.safetensors", "loss_curve.png", "web/index.html", "web/images/epoch002_rec_A.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent(file).path), file)
        }
        let generator = try LoadedGenerator.load(contentsOf: directory.appendingPathComponent("latest_net_G_A.safetensors"))
        XCTAssertEqual(generator.architecture.name, "resnet_2blocks")
        let page = try String(contentsOf: directory.appendingPathComponent("web/index.html"), encoding: .utf8)
        XCTAssertTrue(page.contains("images/epoch001_fake_B.png") && page.contains("images/epoch002_idt_A.png"), page)
        XCTAssertTrue(page.contains("loss_curve.png"))
    }

    /// The reference pool: the first `capacity` fakes pass through and are stored; later ones are swapped for a
    /// stored image half of the time; its images survive a save/restore.
    func testImagePoolFollowsTheReference() throws {
        let random = RandomGenerator(seed: 4)
        XCTAssertEqual(ImagePool(capacity: 0).query(Tensor(shape: [1, 1, 1, 1], repeating: 7), generator: random).item, 7)
        let pool = ImagePool(capacity: 3)
        for value in 0..<3 {
            XCTAssertEqual(pool.query(Tensor(shape: [1, 1, 1, 1], repeating: Float(value)), generator: random).item, Float(value))
        }
        XCTAssertEqual(pool.images.map(\.item), [0, 1, 2])
        var swapped = 0
        for value in 3..<203 {
            let returned = pool.query(Tensor(shape: [1, 1, 1, 1], repeating: Float(value)), generator: random).item
            if returned != Float(value) {
                swapped += 1
                XCTAssertTrue(pool.images.map(\.item).contains(Float(value)), "a swapped-in fake is stored")
            }
        }
        XCTAssertEqual(Double(swapped) / 200, 0.5, accuracy: 0.1)
        let batch = pool.query(Tensor.concatenated([Tensor(shape: [1, 1, 1, 1], repeating: -1), Tensor(shape: [1, 1, 1, 1], repeating: -2)], axis: 0),
                               generator: random)
        XCTAssertEqual(batch.shape, [2, 1, 1, 1])

        let copy = ImagePool(capacity: 3)
        copy.restore(pool.buffers(prefix: "pool_A").merging(["pool_B.0": Tensor(shape: [1, 1, 1, 1], repeating: 99)]) { $1 }, prefix: "pool_A")
        XCTAssertEqual(copy.images.map(\.item), pool.images.map(\.item))
    }
}

/// Every stabiliser that does not change the GAN loss: two discriminator steps at half the learning rate, feature
/// matching, historical averaging, the generators' average, minibatch standard deviation, spectral normalisation and
/// virtual batch norm in both networks.
func enableEveryStabiliser(_ adversarial: inout AdversarialOptions, generator: inout GeneratorArchitecture,
                           discriminator: inout DiscriminatorArchitecture) {
    adversarial.discriminatorSteps = 2
    adversarial.discriminatorLearningRateScale = 0.5
    adversarial.lambdaFeatureMatching = 1
    adversarial.lambdaHistorical = 0.1
    adversarial.generatorAverageDecay = 0.9
    discriminator.minibatchStandardDeviation = true
    discriminator.spectralNormalization = true
    generator.normalization = .virtualBatch
    discriminator.normalization = .virtualBatch
}
