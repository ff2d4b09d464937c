// Runs inside a foot terminal on a Wayland desktop (tests' input probe): turns on
// mouse reporting, appends every byte typed or reported to the file in argv[2],
// and sets the terminal's background to the colour written to argv[3] (a file
// holding "#rrggbb"), so a test can repaint the window while it runs.
import { appendFileSync, readFileSync } from 'node:fs'

const [, , out, colourFile] = process.argv
process.stdin.setRawMode(true)
// SGR mouse reporting (clicks as ESC [ < b ; x ; y M), no cursor.
process.stdout.write('\x1b[?1000h\x1b[?1006h\x1b[?25l')
process.stdin.on('data', (bytes) => appendFileSync(out, bytes))
let colour = ''
setInterval(() => {
  let want = ''
  try {
    want = readFileSync(colourFile, 'utf8').trim()
  } catch {}
  if (/^#[0-9a-f]{6}$/.test(want) && want !== colour) {
    colour = want
    process.stdout.write(`\x1b]11;${want}\x1b\\`)
  }
}, 50)
