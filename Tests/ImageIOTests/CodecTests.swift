import _TestSupport
import Foundation
import ImageIO
import NN
import Tensor
import XCTest

final class CodecTests: XCTestCase {
    let directory = fixturesDirectory.appendingPathComponent("images")

    func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// Pixels pillow decoded for `name`, `[H, W, C]`.
    func expected(_ name: String) throws -> Tensor {
        try Safetensors.read(contentsOf: url("expected.safetensors")).tensor(name, path: "expected.safetensors")
    }

    /// Largest |decoded − expected| after scaling the expected samples by `scale`.
    func worstDifference(_ image: Image, _ reference: Tensor, scale: Float = 1,
                         file: StaticString = #filePath, line: UInt = #line) -> Float {
        XCTAssertEqual([image.height, image.width, image.channels], reference.shape, file: file, line: line)
        guard [image.height, image.width, image.channels] == reference.shape else { return .infinity }
        var worst: Float = 0
        for index in 0..<image.samples.count {
            worst = max(worst, abs(Float(image.samples[index]) - (reference.pointer[index] * scale).rounded()))
        }
        return worst
    }

    func testPNGDecodesEveryColorTypeExactly() throws {
        let cases: [(String, channels: Int, depth: Int, scale: Float)] = [
            ("rgb8.png", 3, 8, 1), ("rgba8.png", 4, 8, 1), ("gray8.png", 1, 8, 1), ("gray_alpha8.png", 2, 8, 1),
            ("interlaced.png", 3, 8, 1), ("palette_trns.png", 4, 8, 1), ("gray16.png", 1, 16, 1), ("rgb16.png", 3, 16, 1),
            ("gray1.png", 1, 8, 255), ("gray2.png", 1, 8, 85), ("gray4.png", 1, 8, 17),
        ]
        for (name, channels, depth, scale) in cases {
            let image = try Image.read(contentsOf: url(name))
            XCTAssertEqual(image.channels, channels, name)
            XCTAssertEqual(image.bitDepth, depth, name)
            XCTAssertEqual(worstDifference(image, try expected(name), scale: scale), 0, name)
        }
    }

    /// JPEG: libjpeg builds may round the inverse DCT and upsampling differently; within 2 levels of pillow.
    func testJPEGDecodesWithinTolerance() throws {
        for name in ["baseline444.jpg", "baseline420.jpg", "progressive.jpg", "gray.jpg", "cmyk.jpg"] {
            let image = try Image.read(contentsOf: url(name))
            XCTAssertEqual(image.bitDepth, 8)
            XCTAssertLessThanOrEqual(worstDifference(image, try expected(name)), name == "cmyk.jpg" ? 3 : 2, name)
        }
        XCTAssertEqual(try Image.read(contentsOf: url("gray.jpg")).channels, 1)
        XCTAssertEqual(try Image.read(contentsOf: url("cmyk.jpg")).channels, 3)
        let horse = try Image.read(contentsOf: url("horse.jpg"))
        XCTAssertEqual([horse.width, horse.height, horse.channels], [256, 256, 3])
    }

    func testEXIFOrientationIsApplied() throws {
        for orientation in 1...8 {
            let name = "orientation\(orientation).jpg"
            let image = try Image.read(contentsOf: url(name))
            XCTAssertEqual(image.width, orientation >= 5 ? 23 : 37, name)
            XCTAssertLessThanOrEqual(worstDifference(image, try expected(name)), 2, name)
        }
    }

    func testBadInputsAreTypedErrorsNamingTheFile() {
        let cases: [(String, (ImageError) -> Bool)] = [
            ("bad_empty.png", { if case .empty = $0 { return true }; return false }),
            ("bad_text.jpg", { if case .notAnImage = $0 { return true }; return false }),
            ("bad_truncated.png", { if case .corrupt(_, let reason) = $0 { return reason.contains("truncated") }; return false }),
            ("bad_truncated.jpg", { if case .corrupt(_, let reason) = $0 { return reason.contains("truncated") }; return false }),
            ("bad_crc.png", { if case .corrupt = $0 { return true }; return false }),
            ("bad_bomb.png", { if case .tooLarge = $0 { return true }; return false }),
            ("does-not-exist.png", { if case .unreadable = $0 { return true }; return false }),
        ]
        for (name, matches) in cases {
            do {
                _ = try Image.read(contentsOf: url(name))
                XCTFail("\(name) was accepted")
            } catch let error as ImageError {
                XCTAssertTrue(matches(error), "\(name): \(error)")
                XCTAssertTrue(error.description.contains(name), "\(error) does not name the file")
            } catch {
                XCTFail("\(name): untyped error \(error)")
            }
        }
        // A small pixel limit refuses an ordinary image before decoding it.
        XCTAssertThrowsError(try Image.read(contentsOf: url("rgb8.png"), pixelLimit: 100)) { error in
            guard case ImageError.tooLarge = error else { return XCTFail("\(error)") }
        }
    }

    func testRealPhotoWithSpacesAndColonsInItsNameAndAPainting() throws {
        let image = try Image.read(contentsOf: url("photo 2014-08-01 22:38:22.png"))
        XCTAssertEqual([image.width, image.height, image.channels], [256, 256, 3])
        let painting = try Image.read(contentsOf: url("painting.png"))
        XCTAssertEqual([painting.width, painting.height, painting.channels], [256, 256, 3])
        let center = image.centerCropped(width: 100, height: 51)
        XCTAssertEqual(center[0, 0, 1], image[78, 102, 1])   // round(156 / 2) = 78, round(102.5) = 102 (ties to even)
    }

    func testRoundTripsAndAtomicWrites() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["rgb8.png", "rgba8.png", "gray8.png", "gray_alpha8.png", "rgb16.png", "gray16.png"] {
            let image = try Image.read(contentsOf: url(name))
            let target = folder.appendingPathComponent(name)
            try image.write(to: target)
            XCTAssertEqual(try Image.read(contentsOf: target), image, "PNG round trip of \(name)")
        }
        let photo = try Image.read(contentsOf: url("photo 2014-08-01 22:38:22.png"))
        for subsampling in ChromaSubsampling.allCases {
            let target = folder.appendingPathComponent("photo-\(subsampling.rawValue).JPG")
            try photo.write(to: target, quality: 95, subsampling: subsampling)
            let back = try Image.read(contentsOf: target)
            var squared = 0.0
            for index in 0..<photo.samples.count {
                let difference = Double(back.samples[index]) - Double(photo.samples[index])
                squared += difference * difference
            }
            let psnr = 10 * log10(255.0 * 255.0 / (squared / Double(photo.samples.count)))
            XCTAssertGreaterThan(psnr, subsampling == .none444 ? 38 : 33, "JPEG q95 \(subsampling) PSNR \(psnr)")
        }
        // No temporary files are left behind, and a bad extension is refused with the path.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [])
        XCTAssertThrowsError(try photo.write(to: folder.appendingPathComponent("photo.gif"))) { error in
            XCTAssertTrue("\(error)".contains("photo.gif"))
        }
        XCTAssertThrowsError(try photo.write(to: folder.appendingPathComponent("missing/photo.png")))
    }

    func testTensorConversionAndBack() throws {
        let image = try Image.read(contentsOf: url("rgb8.png"))
        let tensor = image.tensor()
        XCTAssertEqual(tensor.shape, [1, 3, 23, 37])
        XCTAssertEqual(tensor.pointer[0], Float(image.samples[0]) / 127.5 - 1, accuracy: 1e-6)
        XCTAssertEqual(tensor.pointer[23 * 37], Float(image.samples[1]) / 127.5 - 1, accuracy: 1e-6)
        XCTAssertEqual(Image(tensor: tensor), image)
        let clipped = Image(tensor: Tensor(shape: [1, 1, 1, 3], scalars: [-2, 0, 2]))
        XCTAssertEqual(clipped.samples, [0, 128, 255])
    }
}

final class ColorTests: XCTestCase {
    /// Reference values printed by skimage 0.26 `skimage.color.rgb2lab` (float64 input).
    func testLabMatchesScikitImage() {
        let cases: [((Double, Double, Double), (Double, Double, Double))] = [
            ((1, 1, 1), (100.0, -0.0024549378619953544, 0.004653421154054982)),
            ((1, 0, 0), (53.240587943744885, 80.09230822569225, 67.20275104442868)),
            ((0, 1, 0), (87.73509948831895, -86.18302974439501, 83.1797031753845)),
            ((0, 0, 1), (32.29567256501352, 79.18559091176559, -107.85730020669489)),
            ((0.2, 0.4, 0.6), (42.008000589382185, -0.15404119847209352, -32.842897418997154)),
            ((0.01, 0.01, 0.01), (0.6991424148606811, -4.438817477470103e-05, 8.413780360760903e-05)),
        ]
        for (rgb, lab) in cases {
            let result = ColorSpace.lab(red: rgb.0, green: rgb.1, blue: rgb.2)
            XCTAssertEqual(result.l, lab.0, accuracy: 1e-6, "\(rgb)")
            XCTAssertEqual(result.a, lab.1, accuracy: 1e-6, "\(rgb)")
            XCTAssertEqual(result.b, lab.2, accuracy: 1e-6, "\(rgb)")
            let back = ColorSpace.rgb(l: result.l, a: result.a, b: result.b)
            XCTAssertEqual(back.red, rgb.0, accuracy: 1e-6)
            XCTAssertEqual(back.green, rgb.1, accuracy: 1e-6)
            XCTAssertEqual(back.blue, rgb.2, accuracy: 1e-6)
        }
    }

    /// PIL's `convert("L")`: (19595 R + 38470 G + 7471 B + 32768) >> 16.
    func testLumaMatchesPIL() {
        XCTAssertEqual(ColorSpace.luma(red: 255, green: 255, blue: 255), 255)
        XCTAssertEqual(ColorSpace.luma(red: 255, green: 0, blue: 0), 76)
        XCTAssertEqual(ColorSpace.luma(red: 0, green: 255, blue: 0), 150)
        XCTAssertEqual(ColorSpace.luma(red: 0, green: 0, blue: 255), 29)
        XCTAssertEqual(ColorSpace.luma(red: 10, green: 200, blue: 30), 124)
    }

    /// PIL's `convert("YCbCr")` uses fixed-point tables: within ±1 of the exact full-range formula.
    func testYCbCrMatchesPILWithinOneLevel() {
        let cases: [((Double, Double, Double), (Double, Double, Double))] = [
            ((200, 100, 50), (124, 86, 182)), ((0, 0, 0), (0, 128, 128)), ((255, 255, 255), (255, 128, 128)),
            ((10, 200, 30), (123, 75, 46)),
        ]
        for (rgb, pil) in cases {
            let ycc = ColorSpace.yCbCr(red: rgb.0, green: rgb.1, blue: rgb.2)
            XCTAssertEqual(ycc.y.rounded(), pil.0, accuracy: 1, "\(rgb)")
            XCTAssertEqual(ycc.cb.rounded(), pil.1, accuracy: 1, "\(rgb)")
            XCTAssertEqual(ycc.cr.rounded(), pil.2, accuracy: 1, "\(rgb)")
        }
    }

    func testYCbCrRoundTrip() {
        let ycc = ColorSpace.yCbCr(red: 200, green: 100, blue: 50)
        XCTAssertEqual(ycc.y, 124.2, accuracy: 1e-6)
        let back = ColorSpace.rgb(y: ycc.y, cb: ycc.cb, cr: ycc.cr)
        XCTAssertEqual(back.red, 200, accuracy: 1e-3)
        XCTAssertEqual(back.green, 100, accuracy: 1e-3)
        XCTAssertEqual(back.blue, 50, accuracy: 1e-3)
    }
}

final class CorruptionTests: XCTestCase {
    /// Seeded byte flips and truncations of real PNG and JPEG files either decode or throw ImageError;
    /// none crashes or hangs (each decode of these small files finishes in milliseconds).
    func testRandomCorruptionNeverCrashes() throws {
        let directory = fixturesDirectory.appendingPathComponent("images")
        let generator = RandomGenerator(seed: 2024)
        var outcomes = (decoded: 0, rejected: 0)
        for name in ["rgb8.png", "interlaced.png", "palette_trns.png", "baseline420.jpg", "progressive.jpg", "orientation6.jpg"] {
            let original = [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
            for trial in 0..<150 {
                var bytes = original
                if trial % 3 == 0 {
                    bytes = Array(bytes.prefix(generator.nextInt(below: bytes.count)))
                } else {
                    for _ in 0..<(1 + generator.nextInt(below: 4)) {
                        let position = generator.nextInt(below: bytes.count)
                        bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                    }
                }
                do {
                    let image = try Image.decode(Data(bytes), path: "\(name)#\(trial)")
                    XCTAssertEqual(image.samples.count, image.width * image.height * image.channels)
                    outcomes.decoded += 1
                } catch let error as ImageError {
                    XCTAssertTrue(error.description.contains("\(name)#\(trial)"))
                    outcomes.rejected += 1
                }
            }
        }
        XCTAssertGreaterThan(outcomes.rejected, 100)
    }
}
