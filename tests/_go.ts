/** Building the Go fixtures (tests/fixtures/go_*) with Debian's Go and x/net. */

const root = new URL("..", import.meta.url).pathname;
const GOPATH = "/usr/share/gocode";

/** Builds a fixture with the Go toolchain in GOPATH mode (no module download). */
export async function buildGo(name: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  const output = `${dir}/${name}`;
  const { code, stderr } = await new Deno.Command("go", {
    args: ["build", "-o", output, `./tests/fixtures/${name}`],
    cwd: root,
    env: { GO111MODULE: "off", GOPATH, GOFLAGS: "" },
  }).output().catch((error) => {
    throw new Error(
      `go is required for this test (apt install golang-go golang-golang-x-net-dev): ${error}`,
    );
  });
  if (code !== 0) throw new Error(`go build failed: ${new TextDecoder().decode(stderr)}`);
  return output;
}
