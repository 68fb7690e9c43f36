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

final class RestorationTrainingTests: XCTestCase {
    var root: URL!
    override func setUpWithError() throws { root = try temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// Blocky images (a 4×4 grid of random colours, sharp edges, `side`²): bicubic blurs their edges; a model can learn
    /// to keep them.
    func blockyImages(count: Int, side: Int, seed: UInt64, palette: ((RandomGenerator) -> [Float])? = nil) -> Tensor {
        let random = RandomGenerator(seed: seed)
        let coarse = Tensor(uninitializedShape: [count, 3, 4, 4])
        for sample in 0..<count {
            for cell in 0..<16 {
                let colour = palette?(random) ?? (0..<3).map { _ in Float(random.nextDouble() * 1.6 - 0.8) }
                for channel in 0..<3 { coarse.pointer[(sample * 3 + channel) * 16 + cell] = colour[channel] }
            }
        }
        return coarse.upsampled(height: side, width: side, mode: .nearest)
    }

    func options(_ name: String) -> TrainingOptions {
        var training = TrainingOptions(name: name, checkpoints: root)
        training.learningRate = 2e-3
        training.beta1 = 0.9
        return training
    }

    /// The stage-1 upscaler learns: on held-out blocky images its L1 falls below 0.8 of bicubic's (an untrained one is
    /// exactly bicubic). Pairs are PIL-bicubic ÷4 downscales.
    func testUpscalerLearnsToBeatBicubic() {
        let recipe = UpscalerRecipe(configuration: ResidualUpscalerConfiguration(factor: 4, channels: 16, blocks: 2), training: options("sr"))
        func pairs(_ targets: Tensor) -> Batch {
            let lows = (0..<targets.shape[0]).map { index -> Tensor in
                Image(tensor: targets.sliced(axis: 0, index..<(index + 1))).resized(width: 8, height: 8, filter: .bicubic).tensor()
            }
            return Batch(a: Tensor.concatenated(lows, axis: 0), b: targets)
        }
        let heldOut = pairs(Image.quantized(blockyImages(count: 8, side: 32, seed: 100)))
        func ratio() -> Float {
            recipe.upscaler.eval()
            return withoutGradient {
                Tensor.l1Loss(recipe.upscaler(heldOut.a), heldOut.b!).item / Tensor.l1Loss(recipe.upscaler.bicubic(heldOut.a), heldOut.b!).item
            }
        }
        XCTAssertEqual(ratio(), 1, accuracy: 1e-6, "untrained: bicubic")
        for step in 0..<150 { _ = recipe.step(pairs(Image.quantized(blockyImages(count: 8, side: 32, seed: UInt64(step))))) }
        XCTAssertLessThan(ratio(), 0.8, "measured 0.09")
    }

    /// The stage-1 colorizer learns a known mapping: dark cells are blue, bright cells orange; on held-out images its
    /// chroma error is below 0.4 of the gray image's (chroma 0), and the model file reloads with the same output.
    func testChromaEstimatorLearnsAKnownMapping() throws {
        var configuration = ChromaClassifierConfiguration()
        configuration.channels = [16, 16, 16]
        configuration.blocks = 1
        let recipe = ChromaRecipe(configuration: configuration, training: options("colorize"))
        // RGB of L 30 / (a 20, b −60) and L 80 / (a 10, b 70).
        let blue = ColorSpace.rgb(l: 30, a: 20, b: -60), orange = ColorSpace.rgb(l: 80, a: 10, b: 70)
        let palette: (RandomGenerator) -> [Float] = { random in
            let colour = random.nextDouble() < 0.5 ? blue : orange
            return [colour.red, colour.green, colour.blue].map { Float($0 * 2 - 1) }
        }
        let heldOut = blockyImages(count: 4, side: 32, seed: 200, palette: palette)
        let (lightness, truth) = LabEncoding.split(rgb: heldOut)
        func error() -> Float {
            recipe.classifier.eval()
            return withoutGradient { (recipe.classifier.chroma(for: lightness) - truth).abs().mean().item }
        }
        let gray = withoutGradient { truth.abs().mean().item }
        for step in 0..<120 { _ = recipe.step(Batch(a: blockyImages(count: 4, side: 32, seed: UInt64(step), palette: palette), b: nil)) }
        XCTAssertLessThan(error(), 0.4 * gray, "measured 0.16 of gray; chroma error \(error()) vs gray \(gray)")
        let url = root.appendingPathComponent("c.safetensors")
        let exported = recipe.exportedGenerators[0]
        try exported.module.save(to: url, metadata: exported.metadata)
        let loaded = try RestorationModel.load(contentsOf: url)
        guard case .chroma(let reloaded) = loaded.estimator else { return XCTFail("not a colorizer") }
        XCTAssertEqual(maximumDifference(reloaded.chroma(for: lightness), recipe.classifier.chroma(for: lightness)), 0)
    }

    /// Rebalancing weights: Σ p̃·w = 1 over the smoothed empirical distribution, and rare colours weigh more.
    func testRebalancingWeights() throws {
        try SmoothImages.write(count: 3, to: root.appendingPathComponent("photos"), width: 32, height: 32, seed: 3)
        let bins = ChromaBins()
        let photos = try ImageFolder.list(root.appendingPathComponent("photos"))
        let weights = try ChromaRecipe.rebalancingWeights(for: photos, bins: bins)
        XCTAssertEqual(weights.count, bins.count)
        XCTAssertGreaterThan(weights.max()!, weights.min()! * 1.5)
        XCTAssertEqual(weights[bins.bin(a: 100, b: -100)], weights.max()!, accuracy: weights.max()! * 1e-3,
                       "an unseen corner colour gets (about) the largest weight")
    }

    /// Degradations repeat for a seed, keep the size ratio, and the clean path is PIL's bicubic ÷4.
    func testDegradationIsSeededAndSized() {
        let photo = Image(tensor: blockyImages(count: 1, side: 32, seed: 7))
        let clean = Degradation(factor: 4, cleanProbability: 1).apply(photo, generator: RandomGenerator(seed: 1))
        XCTAssertEqual(clean, photo.resized(width: 8, height: 8, filter: .bicubic))
        let mixed = Degradation(factor: 4, cleanProbability: 0)
        let a = mixed.apply(photo, generator: RandomGenerator(seed: 2)), b = mixed.apply(photo, generator: RandomGenerator(seed: 2))
        XCTAssertEqual(a, b)
        XCTAssertEqual([a.width, a.height], [8, 8])
        let variants = Set((0..<8).map { mixed.apply(photo, generator: RandomGenerator(seed: UInt64($0))).samples })
        XCTAssertGreaterThan(variants.count, 4, "filters, blur, noise and JPEG vary")
    }

    /// Stage 2 trains on a frozen estimator and VAE: its velocity loss on a fixed batch (fixed noise and times) falls,
    /// and the exported two-stage model reloads with its flow.
    func testLatentFlowRecipeLearnsAndExports() throws {
        let estimator = ResidualUpscaler(ResidualUpscalerConfiguration(factor: 4, channels: 4, blocks: 1), generator: RandomGenerator(seed: 1))
        var vae = TinyModels.autoencoder
        vae.style = .pixelShuffle
        var configuration = LatentFlowConfiguration()
        configuration.unet = TinyModels.unet
        let recipe = LatentFlowRecipe(estimator: .upscaler(estimator), configuration: configuration,
                                      autoencoder: AutoencoderKL(vae, generator: RandomGenerator(seed: 2)), scaleFactor: 1, previewSteps: 2,
                                      training: options("flow"))
        let targets = blockyImages(count: 4, side: 16, seed: 9)
        let batch = Batch(a: targets.averagePooled(kernel: 4), b: targets)
        func fixedLoss() -> Float {
            withoutGradient {
                let estimate = estimator(batch.a).clamped(min: -1, max: 1)
                let (condition, z1) = (recipe.flow.encode(estimate), recipe.flow.encode(targets))
                let z0 = condition + Tensor.randomNormal(condition.shape, generator: RandomGenerator(seed: 3)) * 0.1
                let xt = z0 * 0.5 + z1 * 0.5
                return Tensor.mseLoss(recipe.flow.velocity(xt, times: [0.5, 0.5, 0.5, 0.5], condition: condition), z1 - z0).item
            }
        }
        let before = fixedLoss()
        for _ in 0..<150 { _ = recipe.step(batch) }
        XCTAssertLessThan(fixedLoss(), 0.6 * before, "measured 0.30 at 150 steps")
        let url = root.appendingPathComponent("f.safetensors")
        let exported = recipe.exportedGenerators[0]
        try exported.module.save(to: url, metadata: exported.metadata)
        let loaded = try RestorationModel.load(contentsOf: url)
        XCTAssertNotNil(loaded.flow)
        XCTAssertEqual(recipe.visuals().map(\.label), ["estimate", "flow", "real"])
    }
}

extension Image {
    /// `tensor` rounded through 8-bit images and back (what a dataset delivers).
    static func quantized(_ tensor: Tensor) -> Tensor {
        Tensor.concatenated((0..<tensor.shape[0]).map { Image(tensor: tensor.sliced(axis: 0, $0..<($0 + 1))).tensor() }, axis: 0)
    }
}
