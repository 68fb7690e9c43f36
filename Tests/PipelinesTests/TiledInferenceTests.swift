import _TestSupport
import Models
import Pipelines
import NN
import Tensor
import XCTest

final class TiledInferenceTests: XCTestCase {
    func generator() -> ResnetGenerator {
        let net = ResnetGenerator(filters: 4, blocks: 9, generator: RandomGenerator(seed: 3))
        net.initializeWeights(.normal(mean: 0, standardDeviation: 0.3), generator: RandomGenerator(seed: 4))
        net.eval()
        return net
    }

    /// With whole-image statistics, tiles with a receptive-field margin reproduce the untiled result.
    func testTiledEqualsUntiled() {
        let net = generator()
        let image = Tensor.randomUniform([1, 3, 212, 180], low: -1, high: 1, generator: RandomGenerator(seed: 5))
        let whole = withoutGradient { net(image) }
        let tiling = TiledInference(tile: 64, margin: 96, statisticsPixels: 1 << 20)
        XCTAssertTrue(TiledInference(tile: 64, margin: 32).needsTiling(height: 212, width: 180))
        XCTAssertFalse(TiledInference().needsTiling(height: 212, width: 180))
        let tiled = tiling.run(net, on: image)
        XCTAssertEqual(tiled.shape, whole.shape)
        XCTAssertLessThanOrEqual(maximumDifference(tiled, whole), 1e-4)
        // Without shared statistics (each tile normalised alone) the tiles would disagree.
        let naive = Tensor.zeros(whole.shape)
        for top in stride(from: 0, to: 212, by: 64) {
            let rows = top..<min(top + 64, 212)
            let piece = withoutGradient { net(image.sliced(axis: 2, rows)) }
            for channel in 0..<3 {
                for (offset, row) in rows.enumerated() {
                    (naive.pointer + (channel * 212 + row) * 180).update(from: piece.pointer + (channel * rows.count + offset) * 180, count: 180)
                }
            }
        }
        XCTAssertGreaterThan(maximumDifference(naive, whole), 0.05, "per-tile statistics give seams; the test would notice")
        XCTAssertFalse(InstanceNormStatistics.isSharing, "tiling leaves no shared statistics behind on this thread")
    }

    /// Statistics pooled over crops (for images above `statisticsPixels`) approximate the exact result. This
    /// random network (weights with std 0.3) is far more sensitive than a trained one; a downscaled copy gave
    /// a mean error of 0.17 here, pooled crops 0.08.
    func testDownscaledStatisticsStayClose() {
        let net = generator()
        let image = Tensor.randomUniform([1, 3, 128, 160], low: -1, high: 1, generator: RandomGenerator(seed: 6))
            .upsampled(height: 256, width: 320, mode: .bilinear)
        let whole = withoutGradient { net(image) }
        let tiled = TiledInference(tile: 96, margin: 96, statisticsPixels: 256 * 320 / 3).run(net, on: image)
        var total: Float = 0
        for index in 0..<whole.count { total += abs(whole.pointer[index] - tiled.pointer[index]) }
        XCTAssertLessThan(total / Float(whole.count), 0.1)
    }

    /// CUT's anti-aliased generator (blur-pool layers, stride 4 in total) tiles the same way.
    func testAntialiasedGeneratorTiledEqualsUntiled() {
        let net = AntialiasedResnetGenerator(filters: 4, blocks: 2, generator: RandomGenerator(seed: 7))
        net.eval()
        let image = Tensor.randomUniform([1, 3, 180, 148], low: -1, high: 1, generator: RandomGenerator(seed: 8))
        let whole = withoutGradient { net(image) }
        let tiled = TiledInference(tile: 64, margin: 96, statisticsPixels: 1 << 20).run(net, on: image)
        XCTAssertLessThanOrEqual(maximumDifference(tiled, whole), 1e-4)
        XCTAssertTrue(GeneratorFamily.antialiasedResnet.isTileable)
    }
}
