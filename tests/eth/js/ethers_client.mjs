// ethers 6 against the devchain: argv[2] is a JSON file {url, chainId, key, to, token: {address, abi}}.
// Prints one JSON object of what it saw; the Python test asserts on it.
import { readFileSync } from "node:fs";
import { Contract, JsonRpcProvider, NonceManager, Wallet } from "ethers";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const provider = new JsonRpcProvider(cfg.url, undefined, { pollingInterval: 50 });
const wallet = new Wallet(cfg.key, provider);
const token = new Contract(cfg.token.address, cfg.token.abi, wallet);
const out = {};
const str = (v) => (v === null || v === undefined ? null : v.toString());

out.chainId = str((await provider.getNetwork()).chainId);
out.transferEstimate = str(await provider.estimateGas({ from: wallet.address, to: cfg.to, value: 1n }));
const fees = await provider.getFeeData();
out.feeData = { gasPrice: str(fees.gasPrice), maxFeePerGas: str(fees.maxFeePerGas),
  maxPriorityFeePerGas: str(fees.maxPriorityFeePerGas) };

// two transactions back to back, the second sent before the first is waited for. Through a
// NonceManager, ethers' idiom for it: the provider caches identical requests for 250 ms, so
// a bare Wallet would ask for the same "pending" nonce twice, against any node. The nonce then
// travels in the eth_estimateGas call object, which geth accepts.
const signer = new NonceManager(wallet);
const first = await signer.sendTransaction({ to: cfg.to, value: 1n });
const second = await signer.sendTransaction({ to: cfg.to, value: 2n });
const [r1, r2] = await Promise.all([first.wait(), second.wait()]);
out.backToBack = { nonces: [first.nonce, second.nonce], status: [r1.status, r2.status] };

// the same with automine off: the second's nonce and gas estimate follow a pending first
await provider.send("evm_setAutomine", [false]);
try {
  const p1 = await signer.sendTransaction({ to: cfg.to, value: 3n });
  const p2 = await signer.sendTransaction({ to: cfg.to, value: 4n });
  await provider.send("evm_mine", []);
  const [q1, q2] = await Promise.all([p1.wait(), p2.wait()]);
  out.pending = { nonces: [p1.nonce, p2.nonce], blocks: [q1.blockNumber, q2.blockNumber], status: [q1.status, q2.status] };
} finally {
  await provider.send("evm_setAutomine", [true]);
}

// a protocol contract from its ABI: call, estimate, send, events
out.balanceBefore = str(await token.balanceOf(wallet.address));
out.contractEstimate = str(await token.transfer.estimateGas(cfg.to, 5n));
// a contract event listener: ethers polls eth_newFilter/eth_getFilterChanges for it
const heard = new Promise((resolve) => token.once(token.filters.Transfer(wallet.address), (...args) => {
  const payload = args[args.length - 1]; // with a topic filter ethers passes only the payload
  resolve({ value: str(payload.args[2]), tx: payload.log.transactionHash });
}));
await new Promise((resolve) => setTimeout(resolve, 200)); // the listener has installed its filter
const sent = await token.transfer(cfg.to, 5n);
const receipt = await sent.wait();
out.listener = await Promise.race([heard, new Promise((resolve) => setTimeout(() => resolve(null), 5000))]);
out.receipt = { status: receipt.status, gasUsed: str(receipt.gasUsed), blockNumber: receipt.blockNumber,
  logsBloomLength: receipt.logsBloom.length, parsed: receipt.logs.map((l) => token.interface.parseLog(l)?.name) };
out.balanceAfter = str(await token.balanceOf(wallet.address));
const fromMe = await token.queryFilter(token.filters.Transfer(wallet.address), receipt.blockNumber, receipt.blockNumber);
out.queryFilter = fromMe.map((e) => ({ tx: e.transactionHash, from: e.args[0], to: e.args[1], value: str(e.args[2]) }));
out.queryFilterEarliest = (await token.queryFilter("Transfer", 0)).length;
out.txHash = sent.hash;

const block = await provider.getBlock(receipt.blockNumber, true);
const tx = block.prefetchedTransactions[0];
out.block = { number: block.number, txBlockNumber: tx.blockNumber, txHash: tx.hash, baseFee: str(block.baseFeePerGas) };
console.log(JSON.stringify(out));
provider.destroy();
