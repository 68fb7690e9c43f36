import _TestSupport
import Foundation
import ImageIO
import Training
import XCTest

/// Golden pixels of the drawing code behind the loss curves, and the HTML pages.
final class FeedbackTests: XCTestCase {
    func pixel(_ image: Image, _ x: Int, _ y: Int) -> DrawingColor {
        let base = (y * image.width + x) * 3
        return DrawingColor(red: UInt8(image.samples[base]), green: UInt8(image.samples[base + 1]), blue: UInt8(image.samples[base + 2]))
    }

    /// "1" in the 5×7 font: the exact bitmap, and the cursor advances by 6 per character (×scale).
    func testTextIsDrawnWithTheBitmapFont() {
        var image = Image.canvas(width: 6, height: 7)
        XCTAssertEqual(image.drawText("1", x: 0, y: 0, color: .black), 6)
        let expected = ["..#...", ".##...", "..#...", "..#...", "..#...", "..#...", ".###.."]
        let drawn = (0..<7).map { y in String((0..<6).map { x in pixel(image, x, y) == .black ? "#" : "." }) }
        XCTAssertEqual(drawn, expected)
        var scaled = Image.canvas(width: 30, height: 14)
        XCTAssertEqual(scaled.drawText("a1", x: 2, y: 0, color: .black, scale: 2), 2 + 24)
        XCTAssertEqual(pixel(scaled, 2 + 2 * 1, 0), .black, "the top of a scaled 'A'")
        XCTAssertEqual(pixel(scaled, 2, 0), .white)
        XCTAssertEqual(Image.textWidth("a1", scale: 2), 24)
    }

    /// Bresenham lines hit both ends and the exact diagonal; parts outside the canvas are clipped, not a crash.
    func testLinesHitTheirEndsAndClip() {
        var image = Image.canvas(width: 8, height: 8)
        image.drawLine(from: (1, 1), to: (5, 5), color: .black)
        for step in 1...5 { XCTAssertEqual(pixel(image, step, step), .black) }
        XCTAssertEqual(image.samples.filter { $0 == 0 }.count, 5 * 3, "exactly five pixels")
        image.drawLine(from: (-10, 7), to: (20, 7), color: .black, thickness: 3)
        XCTAssertEqual(pixel(image, 0, 7), .black)
        XCTAssertEqual(pixel(image, 7, 6), .black)
        XCTAssertEqual(pixel(image, 3, 5), .white)
    }

    /// A constant series sits where the axis mapping puts it, in its legend colour; nothing logged yet is a note.
    func testLossCurveGoldenPixels() {
        let records = (0...100).map { LossRecord(epoch: 1, iteration: $0 * 10, losses: ["D": 2, "G": Float(2 - Double($0) / 100)]) }
        let image = LossPlot.render(records, names: ["D", "G"], title: "run", width: 800, height: 450)
        XCTAssertEqual(image.width, 800)
        XCTAssertEqual(image.height, 450)
        // y from 0 to 2 × 1.05 over rows 410 … 40: the constant 2 is at row 410 − round(2 / 2.1 × 370) = 58.
        XCTAssertEqual(pixel(image, 425, 58), DrawingColor.series(0))
        XCTAssertEqual(pixel(image, 425, 100), .white)
        // G falls linearly from 2 to 1: halfway (x 425, iteration 500) it is 1.5, row 410 − round(1.5 / 2.1 × 370) = 146.
        XCTAssertTrue((145...147).contains { pixel(image, 425, $0) == DrawingColor.series(1) })
        // Legend swatches.
        XCTAssertEqual(pixel(image, 76, 46), DrawingColor.series(0))
        let empty = LossPlot.render([], names: ["D"])
        XCTAssertTrue(empty.samples.contains(0), "the note is drawn")
    }

    /// Titles and labels are escaped; image paths with spaces are percent-encoded.
    func testGalleryEscapesAndEncodes() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let page = directory.appendingPathComponent("index.html")
        try HTMLGallery.write(to: page, title: "<script>&", notes: ["a \"note\""],
                              rows: [.init(heading: "x<y", images: [(label: "fake_B", path: "images/2014 a_fake_B.png")])])
        let html = try String(contentsOf: page, encoding: .utf8)
        XCTAssertTrue(html.contains("<h1>&lt;script&gt;&amp;</h1>"))
        XCTAssertTrue(html.contains("a &quot;note&quot;"))
        XCTAssertTrue(html.contains("<h3>x&lt;y</h3>"))
        XCTAssertTrue(html.contains("src=\"images/2014%20a_fake_B.png\""))
        XCTAssertFalse(html.contains("<script>"))
    }
}
