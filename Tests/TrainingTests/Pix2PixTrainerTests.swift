import _TestSupport
import Datasets
import Foundation
import ImageIO
import Models
import NN
import Tensor
import Training
import XCTest

final class Pix2PixTrainerTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = try temporaryDirectory()
        // Smooth random colour fields; B is the colour inversion of A.
        let generator = RandomGenerator(seed: 21)
        for index in 0..<6 {
            let coarse = Tensor.randomUniform([1, 3, 4, 4], low: -1, high: 1, generator: generator)
            let a = Image(tensor: coarse.upsampled(height: 32, width: 32, mode: .bilinear))
            var b = a
            b.samples = a.samples.map { 255 - $0 }
            for (folder, image) in [("A", a), ("B", b)] {
                let url = root.appendingPathComponent("pairs/\(folder)/\(index).png")
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try image.write(to: url)
            }
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    func recipeOptions(gan: Float, mode: GANMode = .vanilla, adversarial: AdversarialOptions = AdversarialOptions(),
                       normalization: NormalizationKind = .instance) -> Pix2PixOptions {
        var options = Pix2PixOptions()
        options.ganMode = mode
        options.adversarial = adversarial
        options.architecture = GeneratorArchitecture(kind: .resnet, depth: 2, filters: 8, normalization: normalization)
        options.discriminator = DiscriminatorArchitecture(kind: .basic, filters: 8, normalization: normalization)
        // The discriminator's stabilisers come with the others in these tests.
        options.discriminator.minibatchStandardDeviation = adversarial.lambdaHistorical > 0
        options.discriminator.spectralNormalization = adversarial.lambdaHistorical > 0
        options.lambdaGAN = gan
        return options
    }

    func options(_ name: String) -> TrainingOptions {
        var options = TrainingOptions(name: name, checkpoints: root.appendingPathComponent("checkpoints"))
        options.learningRate = 2e-3
        options.batchSize = 2
        options.printEvery = 1000
        options.progressBar = false
        return options
    }

    func trainer(_ name: String, gan: Float, mode: GANMode = .vanilla, adversarial: AdversarialOptions = AdversarialOptions(),
                 normalization: NormalizationKind = .instance, configure: (inout TrainingOptions) -> Void = { _ in }, workers: Int = 1) throws -> Trainer {
        var training = options(name)
        configure(&training)
        return try Trainer(recipe: Pix2PixRecipe(options: recipeOptions(gan: gan, mode: mode, adversarial: adversarial, normalization: normalization),
                                                 training: training),
                           options: training,
                           dataset: try dataset(), workers: workers)
    }

    func dataset() throws -> PairedFolderDataset {
        try PairedFolderDataset(root: root.appendingPathComponent("pairs"), preprocessing: Preprocessing(mode: .none, flip: true))
    }

    /// The generator learns the inversion: L1 on the training pairs falls well below where it started.
    func testLearnsAKnownMapping() throws {
        let recipe = Pix2PixRecipe(options: recipeOptions(gan: 0), training: options("invert"))
        var first: Float = 0, last: Float = 0
        let loader = DataLoader(dataset: try dataset(), batchSize: 6, shuffle: false)
        func evaluate() throws -> Float {
            let batch = try loader.batches(epoch: 0).nextBatch()!
            recipe.generator.eval()
            return withoutGradient { Tensor.l1Loss(recipe.generator(batch.a), batch.b!).item }
        }
        first = try evaluate()
        for epoch in 0..<60 {
            let iterator = DataLoader(dataset: try dataset(), batchSize: 2, seed: UInt64(epoch)).batches(epoch: epoch)
            while let batch = try iterator.nextBatch() { _ = recipe.step(batch) }
        }
        last = try evaluate()
        XCTAssertLessThan(last, first / 4, "L1 \(first) → \(last)")
        XCTAssertLessThan(last, 0.12)

        // The trained generator stored as float16 (how runs write generators) gives the same 8-bit images within a level.
        let url = root.appendingPathComponent("g16.safetensors")
        try recipe.generator.save(to: url, precision: .float16WhereCloseEnough)
        let reloaded = recipeOptions(gan: 0).architecture.makeGenerator()
        try reloaded.load(contentsOf: url)
        reloaded.eval()
        let batch = try loader.batches(epoch: 0).nextBatch()!
        let exact = Image(tensor: withoutGradient { recipe.generator(batch.a) }.sliced(axis: 0, 0..<1))
        let half = Image(tensor: withoutGradient { reloaded(batch.a) }.sliced(axis: 0, 0..<1))
        XCTAssertLessThanOrEqual(zip(exact.samples, half.samples).map { abs(Int($0) - Int($1)) }.max() ?? 99, 1)
    }

    /// Stopping after 4 iterations and resuming from the saved state reproduces the uninterrupted run — its losses and
    /// its exported generator — with each GAN loss and with every stabiliser on (label smoothing, two discriminator
    /// steps, a halved discriminator learning rate, feature matching, historical averaging, the generator's average,
    /// minibatch standard deviation, spectral normalisation), with WGAN-GP, with the R1 penalty and with virtual batch
    /// norm (its reference batch restored from the state).
    func testResumeReproducesTheUninterruptedRun() throws {
        func losses(_ trainer: Trainer) throws -> [Float] {
            let records = try String(contentsOf: trainer.directory.appendingPathComponent("loss_log.jsonl"), encoding: .utf8)
                .split(separator: "\n").compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            return records.flatMap { record in
                ["G_L1", "G_GAN", "D_real", "D_fake", "G_FM", "G_hist", "D_hist", "D_GP", "D_R1"].compactMap { (record[$0] as? NSNumber)?.floatValue }
            }
        }
        func schedule(_ options: inout TrainingOptions) {
            options.epochs = 2
            options.decayEpochs = 1
            options.printEvery = 1
        }
        var stabilised = AdversarialOptions()
        stabilised.realLabel = 0.9
        stabilised.discriminatorSteps = 2
        stabilised.discriminatorLearningRateScale = 0.5
        stabilised.generatorAverageDecay = 0.9
        stabilised.lambdaFeatureMatching = 1
        stabilised.lambdaHistorical = 0.1
        var r1 = AdversarialOptions()
        r1.r1Gamma = 1
        let configurations: [(GANMode, AdversarialOptions, NormalizationKind, extraLosses: Int)] = [
            (.vanilla, AdversarialOptions(), .instance, 0), (.lsgan, stabilised, .instance, 3), (.hinge, AdversarialOptions(), .instance, 0),
            (.wgangp, AdversarialOptions(), .instance, 1), (.vanilla, r1, .instance, 1), (.vanilla, AdversarialOptions(), .virtualBatch, 0)]
        for (mode, adversarial, normalization, extraLosses) in configurations {
            let name = "\(mode.rawValue)-\(adversarial == stabilised ? "stabilised" : adversarial == r1 ? "r1" : "plain")-\(normalization.rawValue)"
            let uninterrupted = try trainer(name + "-whole", gan: 1, mode: mode, adversarial: adversarial, normalization: normalization, configure: schedule,
                                            workers: 2)
            try uninterrupted.run(log: { _ in })
            XCTAssertEqual(uninterrupted.iterations, 9)

            try trainer(name + "-split", gan: 1, mode: mode, adversarial: adversarial, normalization: normalization,
                        configure: { schedule(&$0); $0.maxIterations = 4 })
                .run(log: { _ in })
            let resumed = try trainer(name + "-split", gan: 1, mode: mode, adversarial: adversarial, normalization: normalization,
                                      configure: schedule, workers: 2)
            try resumed.resume()
            XCTAssertEqual(resumed.iterations, 4)
            try resumed.run(log: { _ in })
            XCTAssertEqual(try losses(resumed), try losses(uninterrupted), name)
            XCTAssertEqual(try losses(uninterrupted).count, 9 * (4 + extraLosses), name)
            let exported = { (trainer: Trainer) in try Data(contentsOf: trainer.directory.appendingPathComponent("latest_net_G.safetensors")) }
            XCTAssertEqual(try exported(resumed), try exported(uninterrupted), name)
            let reloaded = try LoadedGenerator.load(contentsOf: resumed.directory.appendingPathComponent("latest_net_G.safetensors"))
            XCTAssertEqual(reloaded.architecture.name, "resnet_2blocks")
            let rates = resumed.recipe.optimizers.mapValues(\.learningRate)
            XCTAssertEqual(rates["D"]!, rates["G"]! * adversarial.discriminatorLearningRateScale, accuracy: 1e-9, name)
        }
    }

    /// --ema-g: the exported generator is the average (d·w₀ + (1 − d)·w₁ after one step), the live one is not.
    func testTheExportedGeneratorIsTheAverage() throws {
        var adversarial = AdversarialOptions()
        adversarial.generatorAverageDecay = 0.75
        let recipe = Pix2PixRecipe(options: recipeOptions(gan: 1, adversarial: adversarial), training: options("ema"))
        let before = Dictionary(uniqueKeysWithValues: recipe.generator.namedParameters().map { ($0.name, $0.tensor.copied()) })
        let batch = try DataLoader(dataset: try dataset(), batchSize: 2, shuffle: false).batches(epoch: 0).nextBatch()!
        _ = recipe.step(batch)
        let exported = Dictionary(uniqueKeysWithValues: recipe.exportedGenerators[0].module.namedParameters())
        var largestChange: Float = 0
        for (name, live) in recipe.generator.namedParameters() {
            let expected = before[name]! * 0.75 + live * 0.25
            XCTAssertLessThan(maximumDifference(exported[name]!, expected), 1e-6, name)
            largestChange = max(largestChange, maximumDifference(live, before[name]!))
        }
        XCTAssertGreaterThan(largestChange, 1e-4, "the step moved the live weights")
        XCTAssertFalse(recipe.exportedGenerators[0].module === recipe.generator)
    }
}
