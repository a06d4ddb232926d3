// A charge point driven by a third-party OCPP 1.6J stack: the `ocpp-rpc` npm package, in
// strict mode, so every call either side makes is checked against its own copy of the
// OCPP 1.6 schemas (the security extension's included), not against AmpNexus's.
//
// Usage: node ocpp_rpc_charger.js <ws-url> <identity> <password>
// It reads JSON lines on stdin, {"id": n, "call": "Action", "payload": {...}}, sends each
// call and prints {"id": n, "result": {...}} or {"id": n, "error": {"code", "message"}}.
// Every call AmpNexus sends it is answered from `ANSWERS` (schema-valid) and printed as
// {"received": "Action", "payload": {...}}; one it cannot validate is printed as
// {"refused": "Action", "error": ...} (ocpp-rpc answers it with a CALLERROR).
"use strict";

const readline = require("node:readline");
const { RPCClient } = require("ocpp-rpc");

const [url, identity, password] = process.argv.slice(2);

const accepted = { status: "Accepted" };
const ANSWERS = {
  CancelReservation: accepted,
  CertificateSigned: accepted,
  ChangeAvailability: accepted,
  ChangeConfiguration: accepted,
  ClearCache: accepted,
  ClearChargingProfile: accepted,
  DataTransfer: { status: "Accepted", data: "peer" },
  DeleteCertificate: accepted,
  ExtendedTriggerMessage: accepted,
  GetCompositeSchedule: { status: "Rejected" },
  GetConfiguration: {
    configurationKey: [
      { key: "NumberOfConnectors", readonly: true, value: "1" },
      { key: "HeartbeatInterval", readonly: false, value: "300" },
      {
        key: "SupportedFeatureProfiles",
        readonly: true,
        value: "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
      },
      { key: "LocalAuthListMaxLength", readonly: true, value: "100" },
      { key: "SendLocalListMaxLength", readonly: true, value: "20" },
      { key: "ChargeProfileMaxStackLevel", readonly: true, value: "8" },
      { key: "ChargingScheduleAllowedChargingRateUnit", readonly: true, value: "Current,Power" },
      { key: "ChargingScheduleMaxPeriods", readonly: true, value: "24" },
      { key: "MaxChargingProfilesInstalled", readonly: true, value: "8" },
    ],
    unknownKey: [],
  },
  GetDiagnostics: { fileName: "diagnostics.log" },
  GetInstalledCertificateIds: { status: "NotFound" },
  GetLocalListVersion: { listVersion: 0 },
  GetLog: { status: "Accepted", filename: "security.log" },
  InstallCertificate: accepted,
  RemoteStartTransaction: accepted,
  RemoteStopTransaction: accepted,
  ReserveNow: accepted,
  Reset: accepted,
  SendLocalList: accepted,
  SetChargingProfile: accepted,
  SignedUpdateFirmware: accepted,
  TriggerMessage: accepted,
  UnlockConnector: { status: "Unlocked" },
  UpdateFirmware: {},
};

function print(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

async function main() {
  const client = new RPCClient({
    endpoint: url,
    identity,
    password,
    protocols: ["ocpp1.6"],
    strictMode: true,
    reconnect: false,
    callTimeoutMs: 20000,
  });
  client.handle(({ method, params }) => {
    print({ received: method, payload: params });
    if (!(method in ANSWERS)) {
      print({ refused: method, error: "no answer known" });
      throw new Error(`no answer for ${method}`);
    }
    return ANSWERS[method];
  });
  // Strict mode refuses an invalid call, or an invalid answer to ours: say which.
  client.on("strictValidationFailure", ({ method, outbound, isCall, error }) =>
    print({ refused: method, outbound, isCall, error: String(error && error.message) }),
  );
  client.on("badMessage", ({ error }) => print({ refused: "badMessage", error: String(error) }));
  client.on("close", () => process.exit(0));
  await client.connect();
  print({ connected: identity });

  const lines = readline.createInterface({ input: process.stdin });
  for await (const text of lines) {
    if (!text.trim()) continue;
    const { id, call, payload } = JSON.parse(text);
    client
      .call(call, payload)
      .then((result) => print({ id, result }))
      .catch((error) =>
        print({ id, error: { code: error.rpcErrorCode || error.name, message: error.message } }),
      );
  }
  await client.close();
}

main().catch((error) => {
  print({ fatal: String(error && error.stack ? error.stack : error) });
  process.exit(1);
});
