import Foundation
import ImageIO
import XCTest

/// Colourfulness and sharpness against hand-computed values.
final class ColorfulnessAndSharpnessTests: XCTestCase {
    func testColorfulness() {
        let gray = Image(width: 4, height: 4, channels: 3, samples: [UInt16](repeating: 90, count: 48))
        XCTAssertEqual(ImageMetrics.colorfulness(gray), 0, accuracy: 1e-12)
        // Pure red: rg = 255, yb = 127.5 everywhere: no spread, 0.3·√(255² + 127.5²).
        let red = Image(width: 2, height: 2, channels: 3, samples: [255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0])
        XCTAssertEqual(ImageMetrics.colorfulness(red), 0.3 * (255.0 * 255 + 127.5 * 127.5).squareRoot(), accuracy: 1e-9)
        // Half red, half green: rg = ±255 (σ 255, μ 0), yb = 127.5 (σ 0): 255 + 0.3·127.5.
        let mixed = Image(width: 2, height: 1, channels: 3, samples: [255, 0, 0, 0, 255, 0])
        XCTAssertEqual(ImageMetrics.colorfulness(mixed), 255 + 0.3 * 127.5, accuracy: 1e-9)
    }

    func testSharpness() {
        // A vertical edge 0 | 200 in a 4×3 gray image: one of the three horizontal differences per row is 200, so the
        // mean |∂x| is 200/3; no vertical change.
        let edge = Image(width: 4, height: 3, channels: 1, samples: [0, 0, 200, 200, 0, 0, 200, 200, 0, 0, 200, 200])
        XCTAssertEqual(ImageMetrics.sharpness(edge), 200.0 / 3, accuracy: 1e-9)
        // Mean of RGB: a red/blue checker of 2×2 pixels has R+G+B equal everywhere only where both are 255: here
        // (255,0,0) next to (0,0,255) has the same mean 85, so no gradient.
        let checker = Image(width: 2, height: 2, channels: 3, samples: [255, 0, 0, 0, 0, 255, 0, 0, 255, 255, 0, 0])
        XCTAssertEqual(ImageMetrics.sharpness(checker), 0, accuracy: 1e-12)
        let flat = Image(width: 4, height: 3, channels: 1, samples: [UInt16](repeating: 7, count: 12))
        XCTAssertEqual(ImageMetrics.sharpness(flat), 0)
    }

    /// The checkerboard test: a smooth scene with content that is not grid-locked scores a few units at 4 px; the
    /// same scene with a few-level 4-px pattern along both axes (the uneven overlap of stride-2 transposed
    /// convolutions) scores far higher, with its peak at 4.00 px; a sinusoid with a 6-px period peaks at 6 px.
    func testPeriodicPeak() {
        let (width, height) = (320, 200)
        func image(_ value: (Int, Int) -> Double) -> Image {
            var samples = [UInt16]()
            for y in 0..<height {
                for x in 0..<width { samples.append(UInt16(max(0, min(255, value(x, y).rounded())))) }
            }
            return Image(width: width, height: height, channels: 1, samples: samples)
        }
        // Smooth gradients and slanted waves (their row/column means vary slowly).
        let scene = { (x: Int, y: Int) -> Double in
            120 + 50 * sin(Double(x) / 37 + Double(y) / 23) + 30 * cos(Double(x + 2 * y) / 51) + Double(x) / 8
        }
        let clean = ImageMetrics.periodicPeak(image(scene))
        XCTAssertLessThan(clean.atFourPixels, 10)
        let checkered = ImageMetrics.periodicPeak(image { x, y in scene(x, y) + (x % 4 < 2 ? 3 : -3) + (y % 4 == 0 ? 2 : 0) })
        XCTAssertGreaterThan(checkered.atFourPixels, 100)
        XCTAssertEqual(checkered.period, 4, accuracy: 0.01)
        let wave = ImageMetrics.periodicPeak(image { x, y in scene(x, y) + 4 * sin(2 * Double.pi * Double(x) / 6) })
        XCTAssertEqual(wave.period, 6, accuracy: 0.05)
        XCTAssertGreaterThan(wave.peak, 100)
    }
}
