// The tests drive the system Chromium (Debian's `chromium` package); never download another.
module.exports = { skipDownload: true };
