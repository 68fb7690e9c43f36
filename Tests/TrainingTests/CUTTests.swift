import _TestSupport
import Datasets
import Foundation
import ImageIO
import Models
import NN
import Tensor
import Training
import XCTest

/// CUT and FastCUT: PatchNCE against a hand computation, the anti-aliased layers, detection of the reference's
/// generator keys, and runs that resume exactly.
final class CUTTests: XCTestCase {
    var root: URL!
    override func setUpWithError() throws { root = try temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// One image, two patches, τ = 1: query 0's logits are (q₀·k₀, −10 on the diagonal, q₀·k₁) = (1, −10, 0.6), query
    /// 1's (q₁·k₁, q₁·k₀, −10) = (0.8, 0, −10); the loss is the mean of logsumexp − the positive.
    func testPatchNCELossByHand() {
        let queries = Tensor(shape: [2, 2], scalars: [1, 0, 0, 1]), keys = Tensor(shape: [2, 2], scalars: [1, 0, 0.6, 0.8])
        func logSumExp(_ values: [Double]) -> Double { Foundation.log(values.map { Foundation.exp($0) }.reduce(0, +)) }
        let expected = ((logSumExp([1, -10, 0.6]) - 1) + (logSumExp([0.8, 0, -10]) - 0.8)) / 2
        XCTAssertEqual(Double(patchNCELoss(queries: queries, keys: keys, batch: 1, temperature: 1).item), expected, accuracy: 1e-5)
        // τ scales the logits; the keys get no gradient; the queries' gradient matches finite differences.
        let sharp = patchNCELoss(queries: queries, keys: keys, batch: 1, temperature: 0.07).item
        XCTAssertLessThan(sharp, Float(expected))
        checkGradients([seededNormal([6, 3], seed: 1)], "PatchNCE (2 images × 3 patches)") {
            patchNCELoss(queries: $0[0], keys: seededNormal([6, 3], seed: 2), batch: 2, temperature: 0.5)
        }
    }

    /// Blur-pool: a constant stays constant, a ramp xⱼ = j becomes 2k inside (the filter is symmetric) and 0.5 at the
    /// reflected edge; the ×2 upsampling keeps a constant and doubles the sides.
    func testBlurLayers() {
        let constant = Tensor(shape: [1, 2, 6, 6], repeating: 3)
        let down = BlurDownsample(channels: 2)(constant)
        XCTAssertEqual(down.shape, [1, 2, 3, 3])
        XCTAssertTrue(down.scalars.allSatisfy { abs($0 - 3) < 1e-6 })
        let ramp = Tensor(shape: [1, 1, 1, 8], scalars: (0..<8).map(Float.init)).expanded(to: [1, 1, 4, 8])
        let downRamp = BlurDownsample(channels: 1)(ramp).sliced(axis: 2, 1..<2).scalars
        XCTAssertEqual(downRamp, [0.5, 2, 4, 6])
        let up = BlurUpsample(channels: 2)(constant)
        XCTAssertEqual(up.shape, [1, 2, 12, 12])
        XCTAssertTrue(up.scalars.allSatisfy { abs($0 - 3) < 1e-5 })
        XCTAssertEqual(BlurUpsample(channels: 1).stateDictionary().map(\.name), ["filt"])
    }

    /// A state dict with the reference's keys (blur filters `model.N.filt` included) is detected as
    /// `cut_resnet_<N>blocks`, not as CycleGAN's, and reproduces the generator.
    func testAntialiasedGeneratorIsDetected() throws {
        let generator = AntialiasedResnetGenerator(filters: 4, blocks: 2, generator: RandomGenerator(seed: 3))
        generator.eval()
        let keys = generator.stateDictionary().map(\.name)
        XCTAssertTrue(keys.contains("model.7.filt") && keys.contains("model.11.filt") && keys.contains("model.14.filt"), "\(keys)")
        let url = root.appendingPathComponent("cut.safetensors")
        try generator.save(to: url)
        let loaded = try LoadedGenerator.load(contentsOf: url)
        XCTAssertEqual(loaded.architecture.name, "cut_resnet_2blocks")
        let input = seededNormal([1, 3, 16, 16], seed: 4)
        XCTAssertLessThan(maximumDifference(withoutGradient { loaded.module(input) }, withoutGradient { generator(input) }), 1e-6)
    }

    func writeUnalignedSet(count: Int, side: Int) throws -> URL {
        let random = RandomGenerator(seed: 5), folder = root.appendingPathComponent("data")
        for index in 0..<count {
            for split in ["trainA", "trainB"] {
                let url = folder.appendingPathComponent("\(split)/\(index).png")
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                let coarse = Tensor.randomUniform([1, 3, 4, 4], low: -1, high: 1, generator: random)
                try Image(tensor: coarse.upsampled(height: side, width: side, mode: .bilinear)).write(to: url)
            }
        }
        return folder
    }

    /// CUT and FastCUT (flip equivariance on) stopped after 2 iterations and continued log the losses of the
    /// uninterrupted runs and export the same generator; the NCE loss falls. The same for CUT with every stabiliser:
    /// WGAN-GP with R1, two discriminator steps at half the learning rate, feature matching, historical averaging, the
    /// generator's average, minibatch standard deviation, spectral and virtual batch normalisation.
    func testRunsResumeExactly() throws {
        let data = try writeUnalignedSet(count: 3, side: 16)
        let dataset = try UnalignedDataset(root: data, preprocessing: Preprocessing(mode: .none, flip: false))
        for (mode, stabilised) in [(CUTMode.cut, false), (.fastcut, false), (.cut, true)] {
            let label = mode.rawValue + (stabilised ? "-stabilised" : "")
            var options = CUTOptions(mode: mode)
            options.architecture = GeneratorArchitecture(kind: .antialiasedResnet, depth: 1, filters: 4, normalization: .instance)
            options.discriminator = DiscriminatorArchitecture(kind: .nLayers, filters: 4, layers: 1, normalization: .instance)
            options.layers = [0, 4, 8, 12]
            options.patches = 16
            options.headChannels = 8
            if stabilised {
                options.ganMode = .wgangp
                options.adversarial.r1Gamma = 1
                enableEveryStabiliser(&options.adversarial, generator: &options.architecture, discriminator: &options.discriminator)
            }
            func trainer(_ name: String, stopAt: Int? = nil) throws -> Trainer {
                var training = TrainingOptions(name: name, checkpoints: root.appendingPathComponent("checkpoints"))
                training.epochs = 2
                training.decayEpochs = 0
                training.printEvery = 1
                training.progressBar = false
                training.maxIterations = stopAt
                return try Trainer(recipe: CUTRecipe(options: options, training: training), options: training, dataset: dataset, workers: 1)
            }
            func losses(_ trainer: Trainer) throws -> [[String: Double]] { try lossRecords(in: trainer.directory) }
            let whole = try trainer("\(label)-whole")
            try whole.run(log: { _ in })
            try trainer("\(label)-split", stopAt: 2).run(log: { _ in })
            let resumed = try trainer("\(label)-split")
            try resumed.resume()
            try resumed.run(log: { _ in })
            let expected = try losses(whole)
            XCTAssertEqual(expected.count, 6)
            XCTAssertEqual(try losses(resumed), expected, label)
            XCTAssertEqual(try Data(contentsOf: whole.directory.appendingPathComponent("latest_net_G.safetensors")),
                           try Data(contentsOf: resumed.directory.appendingPathComponent("latest_net_G.safetensors")), label)
            let first = expected[0]["NCE"]!, last = expected[5]["NCE"]!
            XCTAssertTrue(first.isFinite && last.isFinite, label)
            XCTAssertEqual(expected[0]["NCE_Y"] != nil, mode == .cut)
            if stabilised {
                for name in ["D_GP", "D_R1", "G_FM", "G_hist", "D_hist"] { XCTAssertTrue(expected[5][name]?.isFinite == true, name) }
            } else {
                XCTAssertLessThan(last, first, label)
            }
            let generator = try LoadedGenerator.load(contentsOf: whole.directory.appendingPathComponent("latest_net_G.safetensors"))
            XCTAssertEqual(generator.architecture.name, "cut_resnet_1blocks")
        }
    }
}
