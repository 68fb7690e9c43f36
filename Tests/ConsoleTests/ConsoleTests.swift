import Console
import XCTest

final class ConsoleTests: XCTestCase {
    /// Status lines never exceed the terminal: a line longer than the width is cut and ends in "…" (a wrapped line
    /// would scroll at every redraw instead of replacing itself).
    func testLinesFitTheTerminalWidth() {
        let long = String(repeating: "x", count: 175)
        XCTAssertEqual(fitted(long, width: 80).count, 80)
        XCTAssertTrue(fitted(long, width: 80).hasSuffix("…"))
        XCTAssertEqual(fitted("short", width: 80), "short")
        XCTAssertEqual(fitted("abc", width: 0), "")
        XCTAssertEqual(progressBar(0.5, width: 10), "[=====     ]")
        XCTAssertEqual(progressBar(2, width: 4), "[====]")
        XCTAssertEqual(ProgressClock.format(3725), "1:02:05")
        XCTAssertEqual(ProgressClock.format(.infinity), "--:--")
    }

    func testEditDistance() {
        XCTAssertEqual(editDistance("colourise", "colorize"), 2)
        XCTAssertEqual(editDistance("photo2monnet", "photo2monet"), 1)
        XCTAssertEqual(editDistance("", "abc"), 3)
    }
}
