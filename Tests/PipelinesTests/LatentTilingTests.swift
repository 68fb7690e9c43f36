import _TestSupport
import Foundation
import ImageIO
import Models
import Pipelines
import Tensor
import XCTest

/// Tiled latent sampling: tile layout and blending, back-projection, and the bundled models tiled against untiled.
final class LatentTilingTests: XCTestCase {
    /// Tiles cover the side, the last flush with the end, neighbours overlapping by the overlap; ramps are positive,
    /// 1 away from neighbours, and sum to 1 across an overlap.
    func testTileLayoutAndRamps() {
        let tiling = LatentTiling(side: 16, overlap: 4)
        XCTAssertEqual(tiling.ranges(length: 16), [0..<16])
        XCTAssertEqual(tiling.ranges(length: 10), [0..<10])
        XCTAssertEqual(tiling.ranges(length: 40), [0..<16, 12..<28, 24..<40])
        XCTAssertEqual(tiling.ranges(length: 30), [0..<16, 12..<28, 14..<30])
        XCTAssertEqual(LatentTiling(side: 30, overlap: 10).aligned(to: 8), LatentTiling(side: 24, overlap: 16), "the stride rounds down, the overlap up")
        let first = tiling.ramp(0..<16, length: 40, scale: 2), second = tiling.ramp(12..<28, length: 40, scale: 2)
        XCTAssertEqual(first.count, 32)
        XCTAssertTrue(first.allSatisfy { $0 > 0 && $0 <= 1 })
        XCTAssertEqual(Array(first[0..<8]), [Float](repeating: 1, count: 8), "no neighbour on the left: full weight")
        XCTAssertEqual(second[0], 1 / 9, accuracy: 1e-6)
        for offset in 0..<8 { XCTAssertEqual(first[24 + offset] + second[offset], 1, accuracy: 1e-6, "overlap weights sum to 1") }
    }

    /// When every tile sees the same values (a local operation), blending reproduces the untiled result exactly, also at
    /// output scale 2 and for a batch of two.
    func testBlendingOfConsistentTilesIsExact() {
        let whole = Tensor.randomUniform([2, 3, 21, 34], low: -1, high: 1, generator: RandomGenerator(seed: 3))
        let expected = whole.upsampled(height: 42, width: 68, mode: .nearest)
        var calls = 0
        let tiling = LatentTiling(side: 12, overlap: 5)
        let blended = LatentDiffusionModel.tiled(height: 21, width: 34, tiling: tiling, scale: 2) { rows, columns in
            calls += 1
            return whole.sliced(axis: 2, rows).sliced(axis: 3, columns).upsampled(height: rows.count * 2, width: columns.count * 2, mode: .nearest)
        }
        XCTAssertEqual(calls, 3 * 5)
        XCTAssertEqual(tiling.ranges(length: 21), [0..<12, 7..<19, 9..<21])
        XCTAssertLessThan(maximumDifference(blended, expected), 1e-5)
    }

    /// Tensor resampling uses the image resizer's coefficients (16-bit images agree to rounding), and back-projection
    /// makes a wrong upscale consistent with its low-resolution input.
    func testResamplingAndBackProjection() {
        let random = RandomGenerator(seed: 8)
        let low = Tensor.randomUniform([1, 3, 9, 11], low: -0.8, high: 0.8, generator: random)
        let image = Image(tensor: low).converted(toBitDepth: 16)
        let resized = image.resized(width: 44, height: 36, filter: .bicubic).tensor()
        let resampled = image.tensor().resampled(height: 36, width: 44, filter: .bicubic).clamped(min: -1, max: 1)
        XCTAssertLessThan(maximumDifference(resampled, resized), 4e-5)

        // A plausible upscale with wrong detail: the bicubic one plus noise (within [−1, 1], so clamping plays no part).
        let wrong = withoutGradient {
            low.resampled(height: 36, width: 44, filter: .bicubic) * 0.7 + Tensor.randomUniform([1, 3, 36, 44], low: -0.25, high: 0.25, generator: random)
        }
        func consistencyError(_ output: Tensor) -> Float { withoutGradient { (output.averagePooled(kernel: 4) - low).abs().mean().item } }
        let corrected = LatentDiffusionModel.backProjected(wrong, onto: low, factor: 4, steps: 5)
        XCTAssertGreaterThan(consistencyError(wrong), 0.1)
        XCTAssertLessThan(consistencyError(corrected), 0.01, "from about 0.13 to within an 8-bit level")
        XCTAssertEqual(LatentDiffusionModel.backProjected(wrong, onto: low, factor: 4, steps: 0).count, wrong.count)
    }

    /// The bundled two-stage models at full detail, sampled in tiles (8-pixel latent tiles overlapping by 4: encoder,
    /// flow UNet and decoder) against whole: the same seed gives a close image and the tile edges are no sharper than
    /// elsewhere (no seams). Skipped for a bundled model without stage 2.
    func testBundledModelsTiledAgainstUntiled() throws {
        let repository = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent()
        let photo = try Image.read(contentsOf: fixturesDirectory.appendingPathComponent("images/horse.jpg")).rgb()
        let upscaler = try RestorationModel.load(contentsOf: repository.appendingPathComponent("models/upscale_x4/upscale_x4.safetensors"))
        let low = photo.resized(width: 32, height: 32, filter: .bicubic)
        if upscaler.flow != nil {
            let whole = RestorationPipeline(model: upscaler, tiling: LatentTiling(side: 64, overlap: 0)).upscale(low, detail: 1, steps: 4, seed: 3)
            let tiled = RestorationPipeline(model: upscaler, tiling: LatentTiling(side: 16, overlap: 8)).upscale(low, detail: 1, steps: 4, seed: 3)
            XCTAssertEqual([tiled.width, tiled.height], [128, 128])
            // Tiles start or end at latent 8, 16, 24: output columns and rows 32, 64, 96.
            try assertSeamless(tiled, whole, edges: [32, 64, 96], minimumPSNR: 30)
        }
        let colorizer = try RestorationModel.load(contentsOf: repository.appendingPathComponent("models/colorize/colorize.safetensors"))
        if colorizer.flow != nil {
            let gray = photo.resized(width: 128, height: 128, filter: .bicubic).grayscale()
            let whole = RestorationPipeline(model: colorizer, tiling: LatentTiling(side: 64, overlap: 0)).colorize(gray, detail: 1, steps: 4, seed: 3)
            let tiled = RestorationPipeline(model: colorizer, tiling: LatentTiling(side: 16, overlap: 8)).colorize(gray, detail: 1, steps: 4, seed: 3)
            try assertSeamless(tiled, whole, edges: [32, 64, 96], minimumPSNR: 30)
        }
    }

    /// PSNR of `tiled` against `whole` at least `minimumPSNR`, and the mean absolute step across the given columns and
    /// rows of `tiled` at most 1.5× its average step everywhere (square images).
    func assertSeamless(_ tiled: Image, _ whole: Image, edges: [Int], minimumPSNR: Double, file: StaticString = #filePath, line: UInt = #line) throws {
        let a = tiled.tensor(), b = whole.tensor()
        let meanSquare = Double(withoutGradient { ((a - b) * (a - b)).mean().item }) / 4
        let psnr = 10 * log10(1 / max(meanSquare, 1e-12))
        XCTAssertGreaterThan(psnr, minimumPSNR, "tiled against whole", file: file, line: line)
        func steps(_ image: Tensor) -> (edges: Double, all: Double) {
            let (channels, height, width) = (image.shape[1], image.shape[2], image.shape[3])
            var atEdges = 0.0, everywhere = 0.0, edgeCount = 0, count = 0
            for channel in 0..<channels {
                for y in 0..<height {
                    for x in 1..<width {
                        let base = channel * height * width
                        let horizontal = Double(abs(image.pointer[base + y * width + x] - image.pointer[base + y * width + x - 1]))
                        let vertical = Double(abs(image.pointer[base + x * width + y] - image.pointer[base + (x - 1) * width + y]))
                        everywhere += horizontal + vertical
                        count += 2
                        if edges.contains(x) { atEdges += horizontal + vertical; edgeCount += 2 }
                    }
                }
            }
            return (atEdges / Double(edgeCount), everywhere / Double(count))
        }
        let tiledSteps = steps(a)
        print("tiled vs whole: PSNR \(psnr) dB, step at tile edges \(tiledSteps.edges), everywhere \(tiledSteps.all), whole's at edges \(steps(b).edges)")
        XCTAssertLessThan(tiledSteps.edges, 1.5 * tiledSteps.all, "a seam at the tile edges", file: file, line: line)
    }
}
