import Foundation

/// An 8-bit RGB colour for ``Image`` drawing.
public struct DrawingColor: Equatable, Sendable {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    public init(red: UInt8, green: UInt8, blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    public static let white = DrawingColor(red: 255, green: 255, blue: 255)
    public static let black = DrawingColor(red: 0, green: 0, blue: 0)
    public static let gray = DrawingColor(red: 200, green: 200, blue: 200)

    /// Ten distinguishable line colours (the usual categorical plotting palette), cycled.
    public static func series(_ index: Int) -> DrawingColor {
        let palette: [(UInt8, UInt8, UInt8)] = [
            (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
            (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
        ]
        let entry = palette[index % palette.count]
        return DrawingColor(red: entry.0, green: entry.1, blue: entry.2)
    }
}

/// Rasterising lines, rectangles and text onto an 8-bit RGB image (loss curves and labels: no Python, no fonts).
extension Image {
    /// A blank 8-bit RGB canvas.
    public static func canvas(width: Int, height: Int, color: DrawingColor = .white) -> Image {
        var image = Image(width: width, height: height, channels: 3, repeating: 0)
        image.fill(x: 0, y: 0, width: width, height: height, color: color)
        return image
    }

    /// Sets one pixel of an 8-bit RGB image; points outside are ignored.
    public mutating func plot(x: Int, y: Int, color: DrawingColor) {
        guard x >= 0, y >= 0, x < width, y < height, channels >= 3 else { return }
        let base = (y * width + x) * channels
        samples[base] = UInt16(color.red)
        samples[base + 1] = UInt16(color.green)
        samples[base + 2] = UInt16(color.blue)
    }

    /// Fills the rectangle `[x, x + width) × [y, y + height)` (clipped).
    public mutating func fill(x: Int, y: Int, width rectangleWidth: Int, height rectangleHeight: Int, color: DrawingColor) {
        for row in Swift.max(0, y)..<Swift.min(height, y + rectangleHeight) {
            for column in Swift.max(0, x)..<Swift.min(width, x + rectangleWidth) { plot(x: column, y: row, color: color) }
        }
    }

    /// A straight line from (x0, y0) to (x1, y1), `thickness` pixels wide (Bresenham, clipped).
    public mutating func drawLine(from start: (x: Int, y: Int), to end: (x: Int, y: Int), color: DrawingColor, thickness: Int = 1) {
        var x = start.x, y = start.y
        let dx = abs(end.x - x), dy = -abs(end.y - y)
        let stepX = x < end.x ? 1 : -1, stepY = y < end.y ? 1 : -1
        var error = dx + dy
        let low = -(thickness - 1) / 2, high = thickness / 2
        while true {
            for offsetY in low...high { for offsetX in low...high { plot(x: x + offsetX, y: y + offsetY, color: color) } }
            if x == end.x && y == end.y { break }
            let doubled = 2 * error
            if doubled >= dy { error += dy; x += stepX }
            if doubled <= dx { error += dx; y += stepY }
        }
    }

    /// Writes `text` with its top-left corner at (x, y) in a 5×7 bitmap font scaled by `scale`; letters are shown
    /// upper-case, characters without a glyph as blanks. Returns the x just past the text.
    @discardableResult
    public mutating func drawText(_ text: String, x: Int, y: Int, color: DrawingColor, scale: Int = 1) -> Int {
        var cursor = x
        for character in text.uppercased() {
            if let rows = BitmapFont.glyphs[character] {
                for (row, bits) in rows.enumerated() {
                    for column in 0..<5 where bits & (0x10 >> column) != 0 {
                        fill(x: cursor + column * scale, y: y + row * scale, width: scale, height: scale, color: color)
                    }
                }
            }
            cursor += BitmapFont.advance * scale
        }
        return cursor
    }

    /// Pixel width of `text` in ``drawText(_:x:y:color:scale:)``.
    public static func textWidth(_ text: String, scale: Int = 1) -> Int { text.count * BitmapFont.advance * scale }
}

/// A 5×7 pixel font: each glyph is seven rows of five bits, most significant bit on the left.
enum BitmapFont {
    static let advance = 6
    static let height = 7

    static let glyphs: [Character: [UInt8]] = [
        "0": [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], "1": [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        "2": [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], "3": [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        "4": [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], "5": [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        "6": [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], "7": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        "8": [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], "9": [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        "A": [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11], "B": [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        "C": [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E], "D": [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        "E": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F], "F": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        "G": [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F], "H": [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        "I": [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], "J": [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        "K": [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], "L": [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        "M": [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11], "N": [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        "O": [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "P": [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        "Q": [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D], "R": [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        "S": [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E], "T": [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        "U": [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "V": [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        "W": [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A], "X": [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        "Y": [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04], "Z": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        "_": [0, 0, 0, 0, 0, 0, 0x1F], ".": [0, 0, 0, 0, 0, 0x0C, 0x0C], "-": [0, 0, 0, 0x1F, 0, 0, 0],
        ":": [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0], "/": [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
        "+": [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0], "(": [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ")": [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08], "=": [0, 0, 0x1F, 0, 0x1F, 0, 0],
    ]
}
