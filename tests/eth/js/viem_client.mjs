// viem 2 against the devchain: argv[2] is a JSON file {url, chainId, key, to, token: {address, abi}}.
// Prints one JSON object of what it saw; the Python test asserts on it.
import { readFileSync } from "node:fs";
import { createPublicClient, createWalletClient, defineChain, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const chain = defineChain({ id: cfg.chainId, name: "lpnode devchain",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 }, rpcUrls: { default: { http: [cfg.url] } } });
const account = privateKeyToAccount(cfg.key);
const client = createPublicClient({ chain, transport: http(cfg.url), pollingInterval: 50 });
const wallet = createWalletClient({ account, chain, transport: http(cfg.url) });
const { address, abi } = cfg.token;
const out = {};
const str = (v) => (v === null || v === undefined ? null : v.toString());
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

out.chainId = await client.getChainId();
const watched = [];
const errors = [];
const unwatch = client.watchContractEvent({ address, abi, eventName: "Transfer", poll: true, pollingInterval: 50,
  onLogs: (logs) => watched.push(...logs), onError: (e) => errors.push(String(e)) });
await sleep(200); // the watcher has made its filter (or taken its starting block)

out.transferEstimate = str(await client.estimateGas({ account, to: cfg.to, value: 1n }));
const fees = await client.estimateFeesPerGas();
out.fees = { maxFeePerGas: str(fees.maxFeePerGas), maxPriorityFeePerGas: str(fees.maxPriorityFeePerGas) };
out.legacyGasPrice = str((await client.estimateFeesPerGas({ type: "legacy" })).gasPrice);

const hash = await wallet.sendTransaction({ to: cfg.to, value: 1n });
const sent = await client.waitForTransactionReceipt({ hash, pollingInterval: 50 });
out.sendTransaction = { status: sent.status, gasUsed: str(sent.gasUsed), type: sent.type };

const write = await wallet.writeContract({ address, abi, functionName: "transfer", args: [cfg.to, 5n] });
const receipt = await client.waitForTransactionReceipt({ hash: write, pollingInterval: 50 });
out.writeContract = { hash: write, status: receipt.status, blockNumber: str(receipt.blockNumber),
  logs: receipt.logs.length };

const event = abi.find((e) => e.type === "event" && e.name === "Transfer");
const logs = await client.getLogs({ address, event, args: { sender: account.address }, fromBlock: 0n });
out.getLogs = logs.map((l) => ({ tx: l.transactionHash, value: str(l.args.value), blockNumber: str(l.blockNumber) }));
out.getLogsEarliest = (await client.getLogs({ address, event, fromBlock: "earliest" })).length;
const events = await client.getContractEvents({ address, abi, eventName: "Transfer",
  fromBlock: receipt.blockNumber, toBlock: receipt.blockNumber });
out.getContractEvents = events.map((l) => ({ tx: l.transactionHash, to: l.args.receiver, value: str(l.args.value) }));

const block = await client.getBlock({ blockNumber: receipt.blockNumber, includeTransactions: true });
out.block = { number: str(block.number), txBlockNumber: str(block.transactions[0].blockNumber),
  txHash: block.transactions[0].hash, logsBloomLength: block.logsBloom.length };

for (let i = 0; i < 100 && !watched.some((l) => l.transactionHash === write); i++) await sleep(50);
unwatch();
out.watched = watched.map((l) => l.transactionHash);
out.watchErrors = errors;
out.balance = str(await client.readContract({ address, abi, functionName: "balanceOf", args: [account.address] }));
console.log(JSON.stringify(out));
