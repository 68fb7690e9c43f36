import ArgumentParser
import Datasets
import Foundation
import ImageIO
import Models
import NN
import Pipelines
import Tensor

/// Trains the stage-1 colorization estimator (``ChromaClassifier``): class-rebalanced cross-entropy between its bin
/// logits and the soft-encoded ab of each photo at ¼ resolution (Zhang et al. 2016). Exports
/// `latest_net_colorize.safetensors` (a restoration model of stage 1 alone).
public final class ChromaRecipe: TrainingRecipe {
    public let random: RandomGenerator
    public let classifier: ChromaClassifier
    let optimizer: Adam
    var latest: Tensor?

    public init(configuration: ChromaClassifierConfiguration, training: TrainingOptions) {
        random = RandomGenerator(seed: training.seed)
        classifier = ChromaClassifier(configuration, generator: random)
        optimizer = Adam(parameters: classifier.namedParameters(), learningRate: training.learningRate, beta1: training.beta1,
                         beta2: training.beta2)
    }

    public var modules: [String: Module] { ["colorize": classifier] }
    public var optimizers: [String: any Optimizer] { ["colorize": optimizer] }
    public var lossNames: [String] { ["CE"] }
    public var visualLabels: [String] { ["gray", "colorized", "real"] }

    public var exportedGenerators: [(name: String, module: Module, metadata: [String: String])] {
        let model = RestorationModel(estimator: .chroma(classifier))
        return [("colorize", model, model.metadata)]
    }

    public func step(_ batch: Batch) -> [String: Float] {
        classifier.train()
        let (lightness, chroma) = LabEncoding.split(rgb: batch.a)
        let quarter = chroma.averagePooled(kernel: 4)
        let bins = classifier.configuration.bins
        let (targets, hard) = bins.softEncoded(quarter)
        let binWeights = classifier.configuration.binWeights
        let weights = Tensor(shape: [quarter.shape[0], 1, quarter.shape[2], quarter.shape[3]],
                             scalars: hard.map { binWeights.isEmpty ? 1 : binWeights[$0] })
        optimizer.zeroGrad()
        let loss = Tensor.softCrossEntropy(classifier(lightness), targets: targets, weights: weights)
        loss.backward()
        optimizer.step()
        latest = batch.a.sliced(axis: 0, 0..<1).copied()
        return ["CE": loss.item]
    }

    public func visuals() -> [(label: String, image: Image)] {
        guard let latest else { return [] }
        classifier.eval()
        defer { classifier.train() }
        let lightness = LabEncoding.lightness(ofRGB: latest)
        let colorized = LabEncoding.rgb(lightness: lightness, chroma: classifier.chroma(for: lightness))
        return [("gray", Image(tensor: lightness).rgb()), ("colorized", Image(tensor: colorized)), ("real", Image(tensor: latest))]
    }

    /// Zhang et al.'s class-rebalancing weights from the photos' ab distribution: the empirical bin frequencies p
    /// (images scaled to ~64 px), smoothed with a Gaussian of σ = 5 ab units, mixed with the uniform distribution
    /// (λ = ½), inverted and normalised so that Σ p·w = 1. Bins never seen get the largest weight.
    public static func rebalancingWeights(for photos: [URL], bins: ChromaBins) throws -> [Float] {
        var counts = [Double](repeating: 0, count: bins.count)
        for url in photos {
            let image = try Image.read(contentsOf: url).rgb().converted(toBitDepth: 8)
            let scale = 64 / Double(max(image.width, image.height))
            let small = scale < 1 ? image.resized(width: max(1, Int(Double(image.width) * scale)), height: max(1, Int(Double(image.height) * scale)),
                                                  filter: .box) : image
            let chroma = LabEncoding.split(small).chroma
            let plane = small.width * small.height
            for pixel in 0..<plane {
                counts[bins.bin(a: chroma.pointer[pixel] * 110, b: chroma.pointer[plane + pixel] * 110)] += 1
            }
        }
        let total = max(counts.reduce(0, +), 1)
        let empirical = counts.map { $0 / total }
        var smoothed = [Double](repeating: 0, count: bins.count)
        let sigma = 5 / Double(bins.step), radius = 2
        for index in 0..<bins.count {
            let (row, column) = (index / bins.perAxis, index % bins.perAxis)
            var sum = 0.0, norm = 0.0
            for dr in -radius...radius {
                for dc in -radius...radius {
                    let r = row + dr, c = column + dc
                    guard (0..<bins.perAxis).contains(r), (0..<bins.perAxis).contains(c) else { continue }
                    let weight = exp(-Double(dr * dr + dc * dc) / (2 * sigma * sigma))
                    sum += weight * empirical[r * bins.perAxis + c]
                    norm += weight
                }
            }
            smoothed[index] = sum / norm
        }
        let mixed = smoothed.map { 0.5 * $0 + 0.5 / Double(bins.count) }
        let inverse = mixed.map { 1 / $0 }
        let expectation = zip(smoothed, inverse).reduce(0) { $0 + $1.0 * $1.1 } / max(smoothed.reduce(0, +), 1e-12)
        return inverse.map { Float($0 / expectation) }
    }
}

// MARK: - Command line

/// The stage-1 options of `stylize train colorize --method diffusion`.
public struct ChromaArguments: ParsableArguments {
    @Option(help: "Channels of the estimator at 1/4, 1/8 and 1/16 of the resolution.") public var estimatorChannels = IntegerList([64, 128, 256])
    @Option(help: "Residual blocks per level of the estimator.") public var estimatorBlocks = 2

    public init() {}

    public func validate() throws {
        guard estimatorChannels.values.count == 3 else { throw ValidationError("--estimator-channels takes three numbers (1/4, 1/8, 1/16)") }
        guard estimatorBlocks >= 1 else { throw ValidationError("--estimator-blocks must be positive") }
    }
}
