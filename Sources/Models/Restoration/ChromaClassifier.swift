import Foundation
import ImageIO
import NN
import Tensor

/// The quantised ab plane of Zhang et al. 2016 ("Colorful Image Colorization", arXiv 1603.08511): a grid of
/// `step`-wide bins over a, b ∈ [−110, 110), each pixel's colour a distribution over them.
public struct ChromaBins: Sendable, Equatable, Codable {
    /// Bin width in ab units (10, as Zhang et al.).
    public var step: Float = 10
    /// Bins per axis: ⌈220 / step⌉.
    public var perAxis: Int { Int((220 / step).rounded(.up)) }
    /// Number of bins Q.
    public var count: Int { perAxis * perAxis }

    public init(step: Float = 10) { self.step = step }

    /// The (a, b) centre of bin `index` (row-major: a slow, b fast).
    public func center(_ index: Int) -> (a: Float, b: Float) {
        (-110 + step * (Float(index / perAxis) + 0.5), -110 + step * (Float(index % perAxis) + 0.5))
    }

    /// The bin of (a, b) (clamped to the grid).
    public func bin(a: Float, b: Float) -> Int {
        let row = min(max(Int(((a + 110) / step).rounded(.down)), 0), perAxis - 1)
        let column = min(max(Int(((b + 110) / step).rounded(.down)), 0), perAxis - 1)
        return row * perAxis + column
    }

    /// Soft encoding of chroma `[N, 2, h, w]` (ab/110): each pixel's weight on its 5 nearest bins, Gaussian (σ = 5 ab
    /// units) in the distance, as Zhang et al. Returns `[N, Q, h, w]` summing to 1 over Q, and the hard bin of each pixel.
    public func softEncoded(_ chroma: Tensor) -> (targets: Tensor, bins: [Int]) {
        let (batch, height, width) = (chroma.shape[0], chroma.shape[2], chroma.shape[3]), plane = height * width
        let targets = Tensor.zeros([batch, count, height, width])
        var bins = [Int](repeating: 0, count: batch * plane)
        for sample in 0..<batch {
            for pixel in 0..<plane {
                let a = chroma.pointer[(sample * 2) * plane + pixel] * 110, b = chroma.pointer[(sample * 2 + 1) * plane + pixel] * 110
                let home = bin(a: a, b: b)
                bins[sample * plane + pixel] = home
                let (row, column) = (home / perAxis, home % perAxis)
                var nearest: [(index: Int, distance: Float)] = []
                for dr in -2...2 {
                    for dc in -2...2 {
                        let r = row + dr, c = column + dc
                        guard (0..<perAxis).contains(r), (0..<perAxis).contains(c) else { continue }
                        let centre = center(r * perAxis + c)
                        nearest.append((r * perAxis + c, (centre.a - a) * (centre.a - a) + (centre.b - b) * (centre.b - b)))
                    }
                }
                nearest.sort { $0.distance < $1.distance }
                let chosen = nearest.prefix(5).map { ($0.index, Foundation.exp(-$0.distance / (2 * 25))) }
                let total = chosen.reduce(0) { $0 + $1.1 }
                for (index, weight) in chosen {
                    targets.pointer[(sample * count + index) * plane + pixel] = weight / total
                }
            }
        }
        return (targets, bins)
    }

    /// The annealed mean of bin probabilities `[N, Q, h, w]` (softmax already applied): each distribution sharpened
    /// to p^(1/T) and renormalised, then the mean of the bin centres — Zhang et al.'s compromise between the washed-out
    /// mean (T = 1) and the patchy mode (T → 0); they use T = 0.38. Returns chroma `[N, 2, h, w]` as ab/110.
    public func annealedMean(_ probabilities: Tensor, temperature: Float) -> Tensor {
        let (batch, height, width) = (probabilities.shape[0], probabilities.shape[2], probabilities.shape[3]), plane = height * width
        let output = Tensor.zeros([batch, 2, height, width])
        let centres = (0..<count).map(center)
        let exponent = 1 / max(temperature, 1e-3)
        for sample in 0..<batch {
            for pixel in 0..<plane {
                var largest: Float = 0
                for index in 0..<count { largest = max(largest, probabilities.pointer[(sample * count + index) * plane + pixel]) }
                var total: Float = 0, a: Float = 0, b: Float = 0
                for index in 0..<count {
                    let p = probabilities.pointer[(sample * count + index) * plane + pixel]
                    guard p > 0 else { continue }
                    let weight = Foundation.pow(p / largest, exponent)
                    total += weight
                    a += weight * centres[index].a
                    b += weight * centres[index].b
                }
                output.pointer[(sample * 2) * plane + pixel] = a / total / 110
                output.pointer[(sample * 2 + 1) * plane + pixel] = b / total / 110
            }
        }
        return output
    }
}

/// Configuration of a ``ChromaClassifier``.
public struct ChromaClassifierConfiguration: Equatable, Sendable, Codable {
    /// Channels at 1/4, 1/8 and 1/16 of the resolution.
    public var channels = [64, 128, 256]
    /// Residual blocks per level.
    public var blocks = 2
    public var bins = ChromaBins()
    /// Class-rebalancing weight of each bin (Zhang et al.: ((1 − λ)·p̃ + λ/Q)⁻¹ normalised to mean 1 under p̃); stored
    /// with the model so training and its file agree. Empty: all 1.
    public var binWeights: [Float] = []

    public init() {}

    /// Image sides must be multiples of this.
    public var sideMultiple: Int { 16 }
}

/// The minimum-error stage of colorization: from the lightness, a distribution over quantised ab bins at ¼ of the
/// resolution (Zhang et al. 2016), trained with class-rebalanced cross-entropy on soft-encoded targets, decoded by the
/// annealed mean. Its wide receptive field (dilated convolutions at 1/16 and a global context vector) lets it give a
/// sky its blue and foliage its green.
///
/// Input `[N, 1, H, W]` (L/50 − 1, sides multiples of 16); output logits `[N, Q, H/4, W/4]`.
public final class ChromaClassifier: Module {
    public let configuration: ChromaClassifierConfiguration
    let stem: Conv2d
    let level1: Sequential
    let down2: Conv2d
    let level2: Sequential
    let down3: Conv2d
    let level3: Sequential
    let context: Linear
    let up2: Conv2d
    let decode2: Sequential
    let up1: Conv2d
    let decode1: Sequential
    let classifier: Conv2d

    public init(_ configuration: ChromaClassifierConfiguration, generator: RandomGenerator = .shared) {
        self.configuration = configuration
        let (c1, c2, c3) = (configuration.channels[0], configuration.channels[1], configuration.channels[2])
        func blocks(_ channels: Int, dilations: [Int]) -> Sequential {
            Sequential(dilations.map { PlainResidualBlock(channels: channels, dilation: $0, generator: generator) })
        }
        let plain = [Int](repeating: 1, count: configuration.blocks)
        stem = Conv2d(inputChannels: 16, outputChannels: c1, kernelSize: 3, padding: 1, generator: generator)
        level1 = blocks(c1, dilations: plain)
        down2 = Conv2d(inputChannels: c1, outputChannels: c2, kernelSize: 3, stride: 2, padding: 1, generator: generator)
        level2 = blocks(c2, dilations: plain)
        down3 = Conv2d(inputChannels: c2, outputChannels: c3, kernelSize: 3, stride: 2, padding: 1, generator: generator)
        level3 = blocks(c3, dilations: (0..<(2 * configuration.blocks)).map { [1, 2, 4, 8][$0 % 4] })
        context = Linear(inputFeatures: c3, outputFeatures: c3, generator: generator)
        up2 = Conv2d(inputChannels: c3, outputChannels: c2, kernelSize: 3, padding: 1, generator: generator)
        decode2 = blocks(c2, dilations: [1])
        up1 = Conv2d(inputChannels: c2, outputChannels: c1, kernelSize: 3, padding: 1, generator: generator)
        decode1 = blocks(c1, dilations: [1])
        classifier = Conv2d(inputChannels: c1, outputChannels: configuration.bins.count, kernelSize: 1, generator: generator)
        super.init()
        registerModule("stem", stem)
        registerModule("level1", level1)
        registerModule("down2", down2)
        registerModule("level2", level2)
        registerModule("down3", down3)
        registerModule("level3", level3)
        registerModule("context", context)
        registerModule("up2", up2)
        registerModule("decode2", decode2)
        registerModule("up1", up1)
        registerModule("decode1", decode1)
        registerModule("classifier", classifier)
    }

    public override func forward(_ lightness: Tensor) -> Tensor {
        let e1 = level1(stem(spaceToDepth(lightness, factor: 4)).relu())
        let e2 = level2(down2(e1).relu())
        var e3 = level3(down3(e2).relu())
        let (batch, channels) = (e3.shape[0], e3.shape[1])
        let global = context(e3.mean(axes: [2, 3])).relu().reshaped([batch, channels, 1, 1])
        e3 = e3 + global
        let d2 = decode2(up2(e3.upsampled(height: e2.shape[2], width: e2.shape[3], mode: .nearest)).relu() + e2)
        let d1 = decode1(up1(d2.upsampled(height: e1.shape[2], width: e1.shape[3], mode: .nearest)).relu() + e1)
        return classifier(d1)
    }

    /// Chroma `[N, 2, H, W]` (ab/110) for lightness `[N, 1, H, W]`: the annealed mean (temperature T) at ¼ resolution,
    /// bilinearly upsampled, scaled by `vibrance` (1: as predicted; more saturates).
    public func chroma(for lightness: Tensor, temperature: Float = 0.38, vibrance: Float = 1) -> Tensor {
        withoutGradient {
            let probabilities = forward(lightness).softmax(axis: 1)
            let quarter = configuration.bins.annealedMean(probabilities, temperature: temperature)
            return quarter.upsampled(height: lightness.shape[2], width: lightness.shape[3], mode: .bilinear) * vibrance
        }
    }
}
