export { type CronSchedule, parseCron } from '@bastide/protocol'
