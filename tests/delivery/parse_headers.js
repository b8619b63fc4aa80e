// Reads a JSON array of base64-encoded messages on stdin and prints, for each, what Node's
// mailparser (the parser Nodemailer's users read mail with) makes of its headers.
"use strict";
const { simpleParser } = require("mailparser");

let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", async () => {
  const out = [];
  for (const raw of JSON.parse(input)) {
    const parsed = await simpleParser(Buffer.from(raw, "base64"));
    const first = (field) => (field && field.value.length ? field.value[0] : null);
    out.push({
      subject: parsed.subject === undefined ? null : parsed.subject,
      from: first(parsed.from),
      to: first(parsed.to),
      replyTo: first(parsed.replyTo),
    });
  }
  process.stdout.write(JSON.stringify(out));
});
