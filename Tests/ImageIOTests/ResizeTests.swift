import _TestSupport
import Foundation
import ImageIO
import NN
import Tensor
import XCTest

final class ResizeTests: XCTestCase {
    let directory = fixturesDirectory.appendingPathComponent("images")

    /// Every filter, up and down, RGB and gray: pixel-exact against pillow's `Image.resize`.
    func testResizeMatchesPillowExactly() throws {
        let expected = try Safetensors.read(contentsOf: directory.appendingPathComponent("expected.safetensors"))
        let rgb = try Image.read(contentsOf: directory.appendingPathComponent("rgb8.png"))
        let gray = try Image.read(contentsOf: directory.appendingPathComponent("gray8.png"))
        var checked = 0
        for filter in ResizeFilter.allCases {
            for (width, height) in [(50, 31), (17, 11), (37, 9), (64, 23)] {
                for (mode, image) in [("rgb", rgb), ("gray", gray)] {
                    let name = "resize/\(mode)/\(filter.rawValue)/\(width)x\(height)"
                    let reference = try expected.tensor(name)
                    let resized = image.resized(width: width, height: height, filter: filter)
                    XCTAssertEqual([resized.height, resized.width, resized.channels], reference.shape, name)
                    var mismatches = 0
                    for index in 0..<resized.samples.count where Float(resized.samples[index]) != reference.pointer[index] {
                        mismatches += 1
                    }
                    XCTAssertEqual(mismatches, 0, "\(name): \(mismatches) samples differ from pillow")
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 48)
        let photo = try Image.read(contentsOf: directory.appendingPathComponent("photo 2014-08-01 22:38:22.png"))
        let loaded = photo.resized(width: 286, height: 286, filter: .bicubic)
        let reference = try expected.tensor("resize/photo/bicubic/286x286")
        XCTAssertEqual(loaded.samples.map(Float.init), reference.scalars, "the reference pipeline's 256 → 286 bicubic load")
    }

    func testSixteenBitResizeStaysCloseToEightBit() throws {
        let image = try Image.read(contentsOf: directory.appendingPathComponent("rgb8.png"))
        let wide = image.converted(toBitDepth: 16).resized(width: 50, height: 31, filter: .bilinear).converted(toBitDepth: 8)
        let narrow = image.resized(width: 50, height: 31, filter: .bilinear)
        for index in 0..<wide.samples.count {
            XCTAssertLessThanOrEqual(abs(Int(wide.samples[index]) - Int(narrow.samples[index])), 1)
        }
    }
}

final class MetricsTests: XCTestCase {
    /// Against scikit-image: peak_signal_noise_ratio and structural_similarity(gaussian_weights=True, sigma=1.5,
    /// use_sample_covariance=False, data_range=255, channel_axis=2) on the same two decoded PNGs.
    func testPSNRAndSSIMMatchScikitImage() throws {
        let directory = fixturesDirectory.appendingPathComponent("images")
        let a = try Image.read(contentsOf: directory.appendingPathComponent("rgb8.png"))
        let b = try Image.read(contentsOf: directory.appendingPathComponent("palette_trns.png")).withoutAlpha()
        XCTAssertEqual(ImageMetrics.psnr(a, b), 37.04283814138721, accuracy: 1e-9)
        XCTAssertEqual(ImageMetrics.ssim(a, b), 0.9424670208466067, accuracy: 1e-9)
        XCTAssertEqual(ImageMetrics.psnr(a, a), .infinity)
        XCTAssertEqual(ImageMetrics.ssim(a, a), 1, accuracy: 1e-12)
    }
}
